//! The pipeline cache: each WGSL kernel is compiled once per set of specialization constants.
//!
//! A kernel's source is its template with a prelude of `const NAME: u32 = value;` lines (the
//! specialization constants) and the shared helper snippets it asks for, so a constant can size
//! a workgroup, an array or a loop and the compiler sees it as a literal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use floe_compute::ComputeError;

use crate::shaders;

/// A kernel and its specialization constants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct KernelKey {
    pub name: &'static str,
    pub constants: Vec<(&'static str, u32)>,
}

impl KernelKey {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            constants: Vec::new(),
        }
    }

    /// Adds a specialization constant.
    pub(crate) fn with(mut self, name: &'static str, value: u32) -> Self {
        self.constants.push((name, value));
        self
    }
}

/// A compiled kernel.
pub(crate) struct Kernel {
    /// The template's name, for profiles.
    pub name: &'static str,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// Compiled kernels by key.
pub(crate) struct PipelineCache {
    device: wgpu::Device,
    subgroups: bool,
    kernels: Mutex<HashMap<KernelKey, Arc<Kernel>>>,
}

impl PipelineCache {
    pub(crate) fn new(device: wgpu::Device, subgroups: bool) -> Self {
        Self {
            device,
            subgroups,
            kernels: Mutex::new(HashMap::new()),
        }
    }

    /// The kernel for `key`, compiling it on first use.
    pub(crate) fn get(&self, key: &KernelKey) -> Result<Arc<Kernel>, ComputeError> {
        if let Some(k) = self
            .kernels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
        {
            return Ok(k.clone());
        }
        let kernel = Arc::new(self.compile(key)?);
        self.kernels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), kernel.clone());
        Ok(kernel)
    }

    /// The full WGSL source of a kernel (also used by tests that validate every kernel).
    pub(crate) fn source(&self, key: &KernelKey) -> Result<String, ComputeError> {
        let mut src = String::new();
        for (name, value) in &key.constants {
            src.push_str(&format!("const {name}: u32 = {value}u;\n"));
        }
        src.push_str(&shaders::template(key.name, self.subgroups).ok_or_else(|| {
            ComputeError::Device(format!("internal error: no WGSL kernel named {}", key.name))
        })?);
        Ok(src)
    }

    fn compile(&self, key: &KernelKey) -> Result<Kernel, ComputeError> {
        let src = self.source(key)?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(key.name),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(key.name),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(ComputeError::Device(format!(
                "compiling kernel {key:?}: {e}"
            )));
        }
        let layout = pipeline.get_bind_group_layout(0);
        Ok(Kernel {
            name: key.name,
            pipeline,
            layout,
        })
    }
}
