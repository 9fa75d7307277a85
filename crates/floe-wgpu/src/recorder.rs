//! Lazy submission: every operation is recorded into one command encoder, and the encoder is
//! submitted only when the CPU needs a result (a download or the router's read-back) or when
//! it grows long, never once per operation.
//!
//! Small per-dispatch data (kernel parameters, index lists, RoPE tables, small uploads) is
//! appended to a host-side arena, written into one device buffer just before the submit, and
//! bound at its offset, so it is ordered with the commands that read it.
//!
//! Consecutive dispatches share one compute pass (wgpu orders the dispatches of a pass and
//! inserts the barriers between them that their buffer uses need); the pass is ended only when
//! a copy or clear has to be recorded or the encoder is submitted, since beginning and ending a
//! pass per dispatch costs more than the dispatch itself for decode-sized kernels.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use floe_compute::ComputeError;

use crate::context::Gpu;
use crate::pipelines::Kernel;
use crate::profile::{KernelTime, Profiler};

/// Uploads up to this size go through the arena; larger ones through their own staging buffer.
const ARENA_UPLOAD_MAX: usize = 64 * 1024;
const ARENA_INITIAL: u64 = 1 << 20;
const ARENA_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

/// One binding of a dispatch, in binding-index order.
pub(crate) enum Bind<'a> {
    /// Bytes placed in the arena (parameters, index lists), bound read-only.
    Data(&'a [u8]),
    /// A whole buffer.
    Buffer(&'a wgpu::Buffer),
}

struct Pending {
    /// The open compute pass of `encoder` (declared first: it must end before the encoder).
    pass: Option<wgpu::ComputePass<'static>>,
    encoder: Option<wgpu::CommandEncoder>,
    arena: Vec<u8>,
    arena_buffer: wgpu::Buffer,
    dispatches: usize,
    /// Kernel timing, when profiling.
    profiler: Option<Profiler>,
}

/// The recording state of one device.
pub(crate) struct Recorder {
    gpu: Arc<Gpu>,
    pending: Mutex<Pending>,
    /// Dispatches after which pending work is submitted: `max_dispatches` of [`Recorder::new`],
    /// then `streamed_dispatches` once experts stream ([`Recorder::experts_stream`]).
    max_dispatches: AtomicUsize,
    streamed_dispatches: usize,
}

fn arena_buffer(device: &wgpu::Device, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("floe arena"),
        size,
        usage: ARENA_USAGE,
        mapped_at_creation: false,
    })
}

impl Pending {
    /// The open compute pass, begun on the encoder if none is open.
    fn pass(&mut self, device: &wgpu::Device) -> &mut wgpu::ComputePass<'static> {
        if self.pass.is_none() {
            let pass = self
                .encoder(device)
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes: None,
                })
                .forget_lifetime();
            self.pass = Some(pass);
        }
        self.pass.as_mut().expect("a pass was just begun")
    }

    /// The encoder, for commands outside compute passes (the open pass is ended first).
    fn encoder(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.pass = None;
        self.encoder.get_or_insert_with(|| {
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("floe ops"),
            })
        })
    }
}

impl Recorder {
    /// A recorder submitting after `max_dispatches` dispatches (`streamed_dispatches` once
    /// experts stream), timing every kernel when `profile` (the device must have
    /// `TIMESTAMP_QUERY`).
    pub(crate) fn new(
        gpu: Arc<Gpu>,
        max_dispatches: usize,
        streamed_dispatches: usize,
        profile: bool,
    ) -> Self {
        let arena_buffer = arena_buffer(&gpu.device, ARENA_INITIAL);
        let max_dispatches = max_dispatches.max(1);
        let streamed_dispatches = streamed_dispatches.max(1);
        let profiler = profile.then(|| {
            let most = max_dispatches.max(streamed_dispatches).min(2048);
            Profiler::new(&gpu.device, &gpu.queue, most)
        });
        Self {
            pending: Mutex::new(Pending {
                pass: None,
                encoder: None,
                arena: Vec::new(),
                arena_buffer,
                dispatches: 0,
                profiler,
            }),
            gpu,
            max_dispatches: AtomicUsize::new(max_dispatches),
            streamed_dispatches,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves arena room for `sizes` (each aligned), submitting pending work (and growing the
    /// arena) first when they do not fit; returns the offsets.
    fn reserve(&self, p: &mut Pending, sizes: &[usize]) -> Result<Vec<u64>, ComputeError> {
        let align = self.gpu.caps.storage_align as usize;
        let needed: usize = sizes.iter().map(|s| s.next_multiple_of(align)).sum();
        if (p.arena.len() + needed) as u64 > p.arena_buffer.size() {
            self.submit_locked(p)?;
            if needed as u64 > p.arena_buffer.size() {
                let size = (needed as u64).next_power_of_two();
                if size > self.gpu.caps.max_binding {
                    return Err(ComputeError::Unsupported(format!(
                        "{needed} bytes of indices and parameters in one operation exceed the device's {}-byte binding limit",
                        self.gpu.caps.max_binding
                    )));
                }
                p.arena_buffer = arena_buffer(&self.gpu.device, size);
            }
        }
        let mut offsets = Vec::with_capacity(sizes.len());
        for &s in sizes {
            offsets.push(p.arena.len() as u64);
            p.arena.resize(p.arena.len() + s.next_multiple_of(align), 0);
        }
        Ok(offsets)
    }

    /// Records one dispatch of `kernel` over `groups` workgroups (x, y, z).
    pub(crate) fn dispatch(
        &self,
        kernel: &Kernel,
        binds: &[Bind<'_>],
        groups: [u32; 3],
    ) -> Result<(), ComputeError> {
        let mut p = self.lock();
        let sizes: Vec<usize> = binds
            .iter()
            .filter_map(|b| match b {
                Bind::Data(d) => Some(d.len().next_multiple_of(4).max(4)),
                Bind::Buffer(_) => None,
            })
            .collect();
        let offsets = self.reserve(&mut p, &sizes)?;
        let mut data_index = 0;
        for b in binds {
            if let Bind::Data(d) = b {
                let at = offsets[data_index] as usize;
                p.arena[at..at + d.len()].copy_from_slice(d);
                data_index += 1;
            }
        }
        let arena = p.arena_buffer.clone();
        let mut data_index = 0;
        let entries: Vec<wgpu::BindGroupEntry<'_>> = binds
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: match b {
                    Bind::Data(_) => {
                        let (offset, size) = (offsets[data_index], sizes[data_index] as u64);
                        data_index += 1;
                        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &arena,
                            offset,
                            size: wgpu::BufferSize::new(size),
                        })
                    }
                    Bind::Buffer(buffer) => buffer.as_entire_binding(),
                },
            })
            .collect();
        let group = self
            .gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &kernel.layout,
                entries: &entries,
            });
        if p.profiler.as_ref().is_some_and(Profiler::full) {
            self.submit_locked(&mut p)?;
        }
        if let Some(mut profiler) = p.profiler.take() {
            // A pass of its own, timestamped at its beginning and end.
            let encoder = p.encoder(&self.gpu.device);
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes: Some(profiler.next(kernel.name)),
                });
                pass.set_pipeline(&kernel.pipeline);
                pass.set_bind_group(0, &group, &[]);
                pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
            }
            p.profiler = Some(profiler);
        } else {
            let pass = p.pass(&self.gpu.device);
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        p.dispatches += 1;
        if p.dispatches >= self.max_dispatches.load(Ordering::Relaxed) {
            self.submit_locked(&mut p)?;
        }
        drop(p);
        self.gpu.check()
    }

    /// Records zeroing the first `size` bytes of `buffer`.
    pub(crate) fn clear(&self, buffer: &wgpu::Buffer, size: u64) -> Result<(), ComputeError> {
        let mut p = self.lock();
        p.encoder(&self.gpu.device)
            .clear_buffer(buffer, 0, Some(size));
        drop(p);
        self.gpu.check()
    }

    /// Records writing `data` (a multiple of 4 bytes) at the start of `dst`, ordered with the
    /// commands recorded before it.
    pub(crate) fn write(&self, dst: &wgpu::Buffer, data: &[u8]) -> Result<(), ComputeError> {
        let mut p = self.lock();
        if data.len() <= ARENA_UPLOAD_MAX {
            let at = self.reserve(&mut p, &[data.len()])?[0];
            p.arena[at as usize..at as usize + data.len()].copy_from_slice(data);
            let arena = p.arena_buffer.clone();
            p.encoder(&self.gpu.device).copy_buffer_to_buffer(
                &arena,
                at,
                dst,
                0,
                data.len() as u64,
            );
        } else {
            let staging = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("floe upload"),
                size: data.len() as u64,
                usage: wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: true,
            });
            staging
                .slice(..)
                .get_mapped_range_mut()
                .map_err(|e| ComputeError::Device(format!("mapping an upload buffer: {e}")))?
                .copy_from_slice(data);
            staging.unmap();
            p.encoder(&self.gpu.device).copy_buffer_to_buffer(
                &staging,
                0,
                dst,
                0,
                data.len() as u64,
            );
        }
        drop(p);
        self.gpu.check()
    }

    fn submit_locked(&self, p: &mut Pending) -> Result<(), ComputeError> {
        if !p.arena.is_empty() {
            self.gpu.queue.write_buffer(&p.arena_buffer, 0, &p.arena);
            p.arena.clear();
        }
        p.pass = None;
        if let Some(profiler) = p.profiler.take() {
            profiler.resolve(p.encoder(&self.gpu.device));
            p.profiler = Some(profiler);
        }
        if let Some(encoder) = p.encoder.take() {
            self.gpu.queue.submit([encoder.finish()]);
        }
        p.dispatches = 0;
        if let Some(profiler) = p.profiler.as_mut() {
            profiler.collect(&self.gpu.device)?;
        }
        self.gpu.check()
    }

    /// The GPU time per kernel so far, most first (`None` unless profiling). Submits and waits
    /// for what is recorded first.
    pub(crate) fn profile(&self) -> Result<Option<Vec<KernelTime>>, ComputeError> {
        let mut p = self.lock();
        self.submit_locked(&mut p)?;
        Ok(p.profiler.as_ref().map(Profiler::report))
    }

    /// Experts stream in (fetched per token): submit after the streamed cadence from now on.
    pub(crate) fn experts_stream(&self) {
        self.max_dispatches
            .store(self.streamed_dispatches, Ordering::Relaxed);
    }

    /// Dispatches after which pending work is submitted now.
    pub(crate) fn dispatch_limit(&self) -> usize {
        self.max_dispatches.load(Ordering::Relaxed)
    }

    /// Submits everything recorded so far without waiting for it.
    pub(crate) fn submit(&self) -> Result<(), ComputeError> {
        let mut p = self.lock();
        self.submit_locked(&mut p)
    }

    /// Copies the first `size` bytes (a multiple of 4) of `src` back to the CPU, after all
    /// recorded work.
    pub(crate) fn read(&self, src: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, ComputeError> {
        let mut parts = self.read_many(&[(src, size)])?;
        Ok(parts.pop().expect("one part per source"))
    }

    /// [`Recorder::read`] of several `(buffer, size)` parts through one read-back buffer: one
    /// submit and one wait for all of them.
    pub(crate) fn read_many(
        &self,
        parts: &[(&wgpu::Buffer, u64)],
    ) -> Result<Vec<Vec<u8>>, ComputeError> {
        let size: u64 = parts.iter().map(|&(_, n)| n).sum();
        let readback = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("floe readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        {
            let mut p = self.lock();
            let encoder = p.encoder(&self.gpu.device);
            let mut at = 0;
            for &(src, n) in parts {
                encoder.copy_buffer_to_buffer(src, 0, &readback, at, n);
                at += n;
            }
            self.submit_locked(&mut p)?;
        }
        let (sender, receiver) = std::sync::mpsc::channel();
        readback.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            // The receiver only disappears after it stopped waiting, so a failed send is moot.
            let _ = sender.send(r);
        });
        // Another thread's poll may be the one that runs the callback, so wait for the callback
        // itself, polling again until it has run.
        loop {
            self.gpu.wait()?;
            match receiver.recv_timeout(std::time::Duration::from_millis(1)) {
                Ok(Ok(())) => break,
                Ok(Err(e)) => {
                    return Err(ComputeError::Device(format!("reading back results: {e}")))
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(ComputeError::Device(
                        "reading back results: the map was dropped".into(),
                    ))
                }
            }
        }
        let parts = {
            let bytes = readback
                .slice(..)
                .get_mapped_range()
                .map_err(|e| ComputeError::Device(format!("reading back results: {e}")))?;
            let mut at = 0;
            parts
                .iter()
                .map(|&(_, n)| {
                    let part = bytes[at..at + n as usize].to_vec();
                    at += n as usize;
                    part
                })
                .collect()
        };
        readback.unmap();
        Ok(parts)
    }
}
