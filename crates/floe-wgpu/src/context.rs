//! The device, its queue and limits, and the error sink that turns wgpu errors into
//! [`ComputeError::Device`] instead of panics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use floe_compute::ComputeError;

use crate::adapter;
use crate::WgpuOptions;

/// Errors wgpu reported outside any call's result (validation, out of memory, device loss).
#[derive(Default)]
pub(crate) struct ErrorSink {
    raised: AtomicBool,
    messages: Mutex<Vec<String>>,
}

impl ErrorSink {
    fn push(&self, message: String) {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
        self.raised.store(true, Ordering::Release);
    }

    /// The first error reported since the last check, if any.
    pub(crate) fn check(&self) -> Result<(), ComputeError> {
        if !self.raised.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut messages = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        self.raised.store(false, Ordering::Release);
        let all = std::mem::take(&mut *messages);
        Err(ComputeError::Device(all.join("; ")))
    }
}

/// What a kernel may assume about the device.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caps {
    /// Subgroup operations are enabled and wanted.
    pub subgroups: bool,
    /// Largest storage binding, in bytes.
    pub max_binding: u64,
    /// Largest weight chunk asked for, in bytes.
    pub max_weight_chunk: u64,
    /// Largest buffer, in bytes.
    pub max_buffer: u64,
    /// Alignment of storage-binding offsets.
    pub storage_align: u64,
    /// Workgroups per dispatch dimension.
    pub max_groups: u32,
}

/// An open device.
pub(crate) struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub features: wgpu::Features,
    pub caps: Caps,
    pub errors: Arc<ErrorSink>,
    lost: Arc<AtomicBool>,
}

impl Gpu {
    /// Opens the adapter `options` choose, with its full limits and the optional features it has.
    pub(crate) fn open(options: &WgpuOptions) -> Result<Self, ComputeError> {
        let instance = adapter::instance();
        let adapter = adapter::choose(adapter::enumerate(&instance), options)
            .map_err(ComputeError::Device)?;
        let info = adapter.get_info();
        let wanted =
            wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16 | wgpu::Features::TIMESTAMP_QUERY;
        let features = adapter.features() & wanted;
        let limits = adapter.limits();
        let desc = wgpu::DeviceDescriptor {
            label: Some("floe"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| ComputeError::Device(format!("cannot open {}: {e}", info.name)))?;
        let errors = Arc::new(ErrorSink::default());
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.push(format!("wgpu: {e}"))
        }));
        let lost = Arc::new(AtomicBool::new(false));
        let (lost_flag, sink) = (lost.clone(), errors.clone());
        device.set_device_lost_callback(move |reason, message| {
            lost_flag.store(true, Ordering::Release);
            sink.push(format!("device lost ({reason:?}): {message}"));
        });
        let caps = Caps {
            subgroups: options.use_subgroups && features.contains(wgpu::Features::SUBGROUP),
            max_binding: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
            max_weight_chunk: options.max_weight_chunk_bytes.unwrap_or(u64::MAX),
            max_buffer: limits.max_buffer_size,
            storage_align: (limits.min_storage_buffer_offset_alignment as u64).max(16),
            max_groups: limits.max_compute_workgroups_per_dimension,
        };
        Ok(Self {
            device,
            queue,
            info,
            features,
            caps,
            errors,
            lost,
        })
    }

    /// Fails if the device was lost or wgpu reported an error since the last check.
    pub(crate) fn check(&self) -> Result<(), ComputeError> {
        self.errors.check()?;
        if self.lost.load(Ordering::Acquire) {
            return Err(ComputeError::Device(format!(
                "the device {} was lost",
                self.info.name
            )));
        }
        Ok(())
    }

    /// Blocks until all submitted work has finished.
    pub(crate) fn wait(&self) -> Result<(), ComputeError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| ComputeError::Device(format!("waiting for the device: {e}")))?;
        self.check()
    }
}
