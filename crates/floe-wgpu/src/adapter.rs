//! Enumerating adapters and choosing one.

use crate::{AdapterChoice, WgpuOptions};

/// What [`crate::WgpuBackend::list_adapters`] reports about one adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Position in the list (what [`AdapterChoice::Index`] takes).
    pub index: usize,
    /// The adapter's name (e.g. `NVIDIA H200`, `llvmpipe (LLVM 15.0.6, 256 bits)`).
    pub name: String,
    /// The graphics API wgpu reaches it through (`Vulkan`, `Metal`, `Dx12`).
    pub api: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu` or `Other`.
    pub device_type: String,
    /// The driver's name and version, where the driver reports them.
    pub driver: String,
    /// Whether it is a software renderer running on the CPU.
    pub software: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] {} ({}, {}",
            self.index, self.name, self.api, self.device_type
        )?;
        if !self.driver.is_empty() {
            write!(f, ", {}", self.driver)?;
        }
        if self.software {
            write!(f, ", software")?;
        }
        write!(f, ")")
    }
}

/// A new wgpu instance over every native API (the `WGPU_BACKEND` variable can narrow it).
pub(crate) fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::PRIMARY;
    wgpu::Instance::new(desc.with_env())
}

/// Whether an adapter renders in software on the CPU.
pub(crate) fn is_software(info: &wgpu::AdapterInfo) -> bool {
    let name = info.name.to_lowercase();
    info.device_type == wgpu::DeviceType::Cpu
        || [
            "llvmpipe",
            "lavapipe",
            "swiftshader",
            "warp",
            "basic render",
        ]
        .iter()
        .any(|s| name.contains(s))
}

pub(crate) fn summary(index: usize, adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    let driver = [info.driver.as_str(), info.driver_info.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    AdapterSummary {
        index,
        name: info.name.clone(),
        api: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver,
        software: is_software(&info),
    }
}

/// Adapters in a stable order (hardware before software, then by name).
pub(crate) fn enumerate(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters.sort_by_key(|a| {
        let info = a.get_info();
        (rank(&info), info.name.clone())
    });
    adapters
}

fn rank(info: &wgpu::AdapterInfo) -> u8 {
    if is_software(info) {
        return 9;
    }
    match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 9,
    }
}

/// The adapter `options` ask for, or a message saying what was found instead.
pub(crate) fn choose(
    adapters: Vec<wgpu::Adapter>,
    options: &WgpuOptions,
) -> Result<wgpu::Adapter, String> {
    let found = || {
        if adapters.is_empty() {
            "no wgpu adapter was found (is a Vulkan, Metal or DX12 driver installed?)".to_string()
        } else {
            let list: Vec<String> = adapters
                .iter()
                .enumerate()
                .map(|(i, a)| summary(i, a).to_string())
                .collect();
            format!("adapters found: {}", list.join("; "))
        }
    };
    if adapters.is_empty() {
        return Err(found());
    }
    let position = match &options.adapter {
        AdapterChoice::Auto => adapters
            .iter()
            .position(|a| !is_software(&a.get_info()))
            .or_else(|| adapters.iter().position(|_| options.allow_software))
            .ok_or_else(|| {
                format!(
                    "no hardware GPU adapter (software adapters are used only when allowed); {}",
                    found()
                )
            })?,
        AdapterChoice::Name(name) => {
            let wanted = name.to_lowercase();
            adapters
                .iter()
                .position(|a| a.get_info().name.to_lowercase().contains(&wanted))
                .ok_or_else(|| format!("no adapter named like '{name}'; {}", found()))?
        }
        AdapterChoice::Index(i) => {
            if *i >= adapters.len() {
                return Err(format!("adapter index {i} is out of range; {}", found()));
            }
            *i
        }
    };
    Ok(adapters
        .into_iter()
        .nth(position)
        .expect("position is in range"))
}
