//! Kernel profiling (`WgpuOptions::profile_kernels`): every dispatch runs in a compute pass of
//! its own whose beginning and end write GPU timestamps; at each submit the timestamps are read
//! back and added to per-kernel totals. Passes per dispatch and a wait per submit make a
//! profiled run slower than a plain one; the totals are GPU time per kernel, not wall time.

use std::collections::BTreeMap;

use floe_compute::ComputeError;

/// GPU time spent in one kernel (all its specializations) while profiling.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    /// The kernel's name (its WGSL template, e.g. `matvec1_affine`).
    pub kernel: &'static str,
    /// Dispatches timed.
    pub dispatches: u64,
    /// GPU seconds between the beginning and the end of their passes, summed.
    pub gpu_seconds: f64,
}

/// Timestamp queries for up to `capacity` dispatches between two submits, and the totals.
pub(crate) struct Profiler {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    readback: wgpu::Buffer,
    capacity: usize,
    /// The kernel of each dispatch recorded since the last submit, in query order.
    pending: Vec<&'static str>,
    totals: BTreeMap<&'static str, (u64, f64)>,
    /// Nanoseconds per timestamp tick.
    period_ns: f64,
}

impl Profiler {
    /// Queries for `capacity` dispatches per submit.
    pub(crate) fn new(device: &wgpu::Device, queue: &wgpu::Queue, capacity: usize) -> Self {
        let bytes = (capacity * 2 * 8) as u64;
        let buffer = |label, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        Self {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("floe profile"),
                ty: wgpu::QueryType::Timestamp,
                count: (capacity * 2) as u32,
            }),
            resolved: buffer(
                "floe profile resolve",
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            ),
            readback: buffer(
                "floe profile readback",
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            ),
            capacity,
            pending: Vec::with_capacity(capacity),
            totals: BTreeMap::new(),
            period_ns: queue.get_timestamp_period() as f64,
        }
    }

    /// Whether the queries are used up (the recorder must submit before the next dispatch).
    pub(crate) fn full(&self) -> bool {
        self.pending.len() >= self.capacity
    }

    /// The timestamp writes of the next dispatch, of kernel `name`.
    pub(crate) fn next(&mut self, name: &'static str) -> wgpu::ComputePassTimestampWrites<'_> {
        let at = (self.pending.len() * 2) as u32;
        self.pending.push(name);
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(at),
            end_of_pass_write_index: Some(at + 1),
        }
    }

    /// Records copying the pending timestamps to the read-back buffer (before the submit).
    pub(crate) fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        if self.pending.is_empty() {
            return;
        }
        let n = (self.pending.len() * 2) as u32;
        encoder.resolve_query_set(&self.queries, 0..n, &self.resolved, 0);
        encoder.copy_buffer_to_buffer(&self.resolved, 0, &self.readback, 0, n as u64 * 8);
    }

    /// After the submit holding [`Profiler::resolve`]'s copy: waits for it and adds the pending
    /// dispatches' times to the totals.
    pub(crate) fn collect(&mut self, device: &wgpu::Device) -> Result<(), ComputeError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes = (self.pending.len() * 2 * 8) as u64;
        let slice = self.readback.slice(..bytes);
        let (sender, receiver) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = sender.send(r);
        });
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| ComputeError::Device(format!("waiting for profile timestamps: {e}")))?;
        receiver
            .recv()
            .map_err(|_| ComputeError::Device("profile timestamps were never mapped".into()))?
            .map_err(|e| ComputeError::Device(format!("reading profile timestamps: {e}")))?;
        {
            let data = slice
                .get_mapped_range()
                .map_err(|e| ComputeError::Device(format!("reading profile timestamps: {e}")))?;
            let ticks: &[u64] = bytemuck::cast_slice(&data);
            for (name, pair) in self.pending.iter().zip(ticks.chunks_exact(2)) {
                let seconds = pair[1].saturating_sub(pair[0]) as f64 * self.period_ns * 1e-9;
                let total = self.totals.entry(name).or_insert((0, 0.0));
                total.0 += 1;
                total.1 += seconds;
            }
        }
        self.readback.unmap();
        self.pending.clear();
        Ok(())
    }

    /// The totals, most GPU time first.
    pub(crate) fn report(&self) -> Vec<KernelTime> {
        let mut times: Vec<KernelTime> = self
            .totals
            .iter()
            .map(|(&kernel, &(dispatches, gpu_seconds))| KernelTime {
                kernel,
                dispatches,
                gpu_seconds,
            })
            .collect();
        times.sort_by(|a, b| b.gpu_seconds.total_cmp(&a.gpu_seconds));
        times
    }
}
