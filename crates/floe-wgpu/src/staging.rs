//! A persistent ring of mapped `MAP_WRITE | COPY_SRC` staging buffers through which weight bytes
//! reach the GPU: each piece is written into a mapped slot, copied into the weight buffer with
//! `copy_buffer_to_buffer`, and the slot is mapped again once the copy has run. No staging
//! memory is allocated per weight (as `queue.write_buffer` or `mapped_at_creation` would).
//!
//! The copies are submitted on their own, ahead of the recorder's pending encoder: they only
//! write freshly created buffers that no recorded work can be reading yet, and queue order puts
//! them before every dispatch recorded after the upload.

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use floe_compute::ComputeError;

use crate::context::Gpu;

/// A slot's mapping: ready to write, or waiting for its last copy to finish.
enum SlotState {
    Mapped,
    Mapping(Receiver<Result<(), wgpu::BufferAsyncError>>),
}

struct Slot {
    buffer: wgpu::Buffer,
    state: SlotState,
}

struct Ring {
    slots: Vec<Slot>,
    next: usize,
}

/// The staging ring of one device.
pub(crate) struct StagingRing {
    gpu: Arc<Gpu>,
    slot_bytes: u64,
    ring: Mutex<Ring>,
}

/// The bytes of `parts` one after another, then zeros up to a total length.
struct Source<'a> {
    parts: &'a [&'a [u8]],
    part: usize,
    within: usize,
}

/// Zeros to pad with, a block at a time.
const ZEROS: [u8; 4096] = [0; 4096];

impl Source<'_> {
    /// Hands the next `n` bytes (zeros once the parts are used up) to `emit`, as
    /// `(offset within the n, bytes)` pieces.
    fn take(&mut self, n: usize, mut emit: impl FnMut(usize, &[u8])) {
        let mut at = 0;
        while at < n && self.part < self.parts.len() {
            let p = self.parts[self.part];
            let k = (p.len() - self.within).min(n - at);
            emit(at, &p[self.within..self.within + k]);
            at += k;
            self.within += k;
            if self.within == p.len() {
                self.part += 1;
                self.within = 0;
            }
        }
        while at < n {
            let k = (n - at).min(ZEROS.len());
            emit(at, &ZEROS[..k]);
            at += k;
        }
    }
}

impl StagingRing {
    /// `slots` mapped staging buffers of `slot_bytes` each (rounded up to 16 bytes).
    pub(crate) fn new(gpu: Arc<Gpu>, slots: usize, slot_bytes: u64) -> Result<Self, ComputeError> {
        if slots == 0 || slot_bytes == 0 {
            return Err(ComputeError::Argument {
                op: "WgpuBackend::new",
                message: format!(
                    "staging_buffers = {slots} and staging_buffer_bytes = {slot_bytes} must both be positive"
                ),
            });
        }
        let slot_bytes = slot_bytes.next_multiple_of(16);
        if slot_bytes > gpu.caps.max_buffer {
            return Err(ComputeError::Argument {
                op: "WgpuBackend::new",
                message: format!(
                    "staging_buffer_bytes = {slot_bytes} exceeds the {}-byte buffer limit of {}",
                    gpu.caps.max_buffer, gpu.info.name
                ),
            });
        }
        let slots = (0..slots)
            .map(|_| Slot {
                buffer: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("floe staging"),
                    size: slot_bytes,
                    usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: true,
                }),
                state: SlotState::Mapped,
            })
            .collect();
        gpu.check()?;
        Ok(Self {
            gpu,
            slot_bytes,
            ring: Mutex::new(Ring { slots, next: 0 }),
        })
    }

    /// Writes the bytes of `parts`, followed by zeros up to `size` (a multiple of 4), into
    /// `dst` from offset 0, and submits the copies.
    pub(crate) fn write(
        &self,
        dst: &wgpu::Buffer,
        parts: &[&[u8]],
        size: u64,
    ) -> Result<(), ComputeError> {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let mut source = Source {
            parts,
            part: 0,
            within: 0,
        };
        let mut offset = 0;
        while offset < size {
            // One submission per pass over the ring: every slot is used at most once in it.
            let mut encoder =
                self.gpu
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("floe staging copies"),
                    });
            let mut used = Vec::new();
            while offset < size && used.len() < ring.slots.len() {
                let index = ring.next;
                ring.next = (index + 1) % ring.slots.len();
                let slot = &mut ring.slots[index];
                self.wait_mapped(slot)?;
                let n = self.slot_bytes.min(size - offset);
                {
                    let mut view = slot.buffer.slice(..n).get_mapped_range_mut().map_err(|e| {
                        ComputeError::Device(format!("mapping a staging buffer: {e}"))
                    })?;
                    source.take(n as usize, |at, bytes| {
                        view.slice(at..at + bytes.len()).copy_from_slice(bytes)
                    });
                }
                slot.buffer.unmap();
                encoder.copy_buffer_to_buffer(&slot.buffer, 0, dst, offset, n);
                used.push(index);
                offset += n;
            }
            self.gpu.queue.submit([encoder.finish()]);
            for index in used {
                let slot = &mut ring.slots[index];
                let (sender, receiver) = channel();
                slot.buffer
                    .slice(..)
                    .map_async(wgpu::MapMode::Write, move |r| {
                        // The receiver lives as long as the ring; a failed send is moot.
                        let _ = sender.send(r);
                    });
                slot.state = SlotState::Mapping(receiver);
            }
            self.gpu.check()?;
        }
        Ok(())
    }

    /// Waits until `slot` is mapped again after its last copy.
    fn wait_mapped(&self, slot: &mut Slot) -> Result<(), ComputeError> {
        let SlotState::Mapping(receiver) = &slot.state else {
            return Ok(());
        };
        // Another thread's poll may run the callback, so wait for the callback itself.
        loop {
            self.gpu.wait()?;
            match receiver.recv_timeout(Duration::from_millis(1)) {
                Ok(Ok(())) => break,
                Ok(Err(e)) => {
                    return Err(ComputeError::Device(format!(
                        "mapping a staging buffer again: {e}"
                    )))
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(ComputeError::Device(
                        "mapping a staging buffer again: the map was dropped".into(),
                    ))
                }
            }
        }
        slot.state = SlotState::Mapped;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Source;

    #[test]
    fn source_concatenates_parts_and_pads_with_zeros() {
        let (a, b) = ([1u8, 2, 3], [4u8, 5]);
        let parts: [&[u8]; 2] = [&a, &b];
        let mut source = Source {
            parts: &parts,
            part: 0,
            within: 0,
        };
        let mut out = Vec::new();
        for n in [2, 2, 4, 5000] {
            let mut piece = vec![9u8; n];
            source.take(n, |at, bytes| {
                piece[at..at + bytes.len()].copy_from_slice(bytes)
            });
            out.push(piece);
        }
        let (x, y, z, w) = (&out[0], &out[1], &out[2], &out[3]);
        assert_eq!(
            (&x[..], &y[..], &z[..]),
            (&[1, 2][..], &[3, 4][..], &[5, 0, 0, 0][..])
        );
        assert!(w.iter().all(|&v| v == 0));
    }
}
