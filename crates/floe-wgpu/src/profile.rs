//! Kernel profiling (`WgpuOptions::profile_kernels`): GPU timestamps around every dispatch, read
//! back at each submit and added to per-kernel totals.
//!
//! Where the device has `TIMESTAMP_QUERY_INSIDE_PASSES` the dispatches stay in their shared
//! compute pass, as in an unprofiled run: the pass gets a timestamp when it begins and one after
//! each dispatch, and a dispatch is charged the time from the timestamp before it to its own.
//! That is what it adds to the stream (its launch, the barrier that waits for the dispatch
//! before it, and its work), so the charges of a pass add up to the pass's GPU time. Without
//! that feature every dispatch gets a pass of its own, timed at its beginning and end, and each
//! charge then includes the cost of a pass. Either way a submit waits for its timestamps, so a
//! profiled run is slower than a plain one; the totals are GPU time, not wall time.

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

/// What a timestamp query marks: where a measurement starts (a pass's beginning), or the end
/// of a dispatch of the named kernel, charged the time since the query before it.
#[derive(Clone, Copy)]
enum Mark {
    Start,
    End(&'static str),
}

/// Timestamp queries for up to `capacity` dispatches between two submits, and the totals.
pub(crate) struct Profiler {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Queries in `queries`.
    capacity: usize,
    /// Whether timestamps are written between the dispatches of a shared pass.
    inside_passes: bool,
    /// What each query written since the last submit marks, in query order.
    pending: Vec<Mark>,
    totals: BTreeMap<&'static str, (u64, f64)>,
    /// Nanoseconds per timestamp tick.
    period_ns: f64,
}

impl Profiler {
    /// Queries for `dispatches` dispatches per submit, written inside shared passes when the
    /// device has `TIMESTAMP_QUERY_INSIDE_PASSES` and not `own_passes`.
    pub(crate) fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        dispatches: usize,
        own_passes: bool,
    ) -> Self {
        let capacity = dispatches * 2;
        let bytes = (capacity * 8) as u64;
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
                count: capacity as u32,
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
            inside_passes: !own_passes
                && device
                    .features()
                    .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
            pending: Vec::with_capacity(capacity),
            totals: BTreeMap::new(),
            period_ns: queue.get_timestamp_period() as f64,
        }
    }

    /// Whether dispatches are timed inside shared passes (else each gets a pass of its own).
    pub(crate) fn inside_passes(&self) -> bool {
        self.inside_passes
    }

    /// Whether the queries are used up (the recorder must submit before the next dispatch,
    /// which may need two).
    pub(crate) fn full(&self) -> bool {
        self.pending.len() + 2 > self.capacity
    }

    fn push(&mut self, mark: Mark) -> u32 {
        self.pending.push(mark);
        (self.pending.len() - 1) as u32
    }

    /// The timestamp writes of a pass of its own for the next dispatch, of kernel `name`.
    pub(crate) fn own_pass(&mut self, name: &'static str) -> wgpu::ComputePassTimestampWrites<'_> {
        let begin = self.push(Mark::Start);
        let end = self.push(Mark::End(name));
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(begin),
            end_of_pass_write_index: Some(end),
        }
    }

    /// Writes the timestamp a newly begun shared pass starts from.
    pub(crate) fn pass_begun(&mut self, pass: &mut wgpu::ComputePass<'static>) {
        let at = self.push(Mark::Start);
        pass.write_timestamp(&self.queries, at);
    }

    /// Writes the timestamp after a dispatch of kernel `name` in a shared pass.
    pub(crate) fn dispatched(&mut self, pass: &mut wgpu::ComputePass<'static>, name: &'static str) {
        let at = self.push(Mark::End(name));
        pass.write_timestamp(&self.queries, at);
    }

    /// Records copying the pending timestamps to the read-back buffer (before the submit).
    pub(crate) fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        if self.pending.is_empty() {
            return;
        }
        let n = self.pending.len() as u32;
        encoder.resolve_query_set(&self.queries, 0..n, &self.resolved, 0);
        encoder.copy_buffer_to_buffer(&self.resolved, 0, &self.readback, 0, n as u64 * 8);
    }

    /// After the submit holding [`Profiler::resolve`]'s copy: waits for it and adds the pending
    /// dispatches' times to the totals.
    pub(crate) fn collect(&mut self, device: &wgpu::Device) -> Result<(), ComputeError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes = (self.pending.len() * 8) as u64;
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
            for (at, mark) in self.pending.iter().enumerate() {
                // Every End follows a Start or another End of the same pass.
                let (Mark::End(name), Some(&before)) = (mark, at.checked_sub(1).map(|b| &ticks[b]))
                else {
                    continue;
                };
                let seconds = ticks[at].saturating_sub(before) as f64 * self.period_ns * 1e-9;
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
