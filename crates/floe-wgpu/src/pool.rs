//! Reuse of activation buffers by size class, so a decode step allocates (almost) nothing.
//!
//! A buffer dropped while commands that use it are still pending can be handed out again at
//! once: every later use is recorded after those commands on the same queue, and wgpu orders
//! (and places barriers between) uses of one buffer in queue order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Usages of every pooled buffer.
const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// The size class of a request of `bytes`: at least 256 bytes, then steps of a quarter of the
/// power of two below, so a buffer is never more than 25% larger than asked for.
pub(crate) fn size_class(bytes: u64) -> u64 {
    if bytes <= 256 {
        return 256;
    }
    let floor_log2 = 63 - (bytes - 1).leading_zeros() as u64;
    let step = 1u64 << (floor_log2 - 2);
    bytes.div_ceil(step) * step
}

#[derive(Default)]
struct Free {
    by_class: HashMap<u64, Vec<wgpu::Buffer>>,
    bytes: u64,
}

/// Idle buffers by size class.
pub(crate) struct BufferPool {
    device: wgpu::Device,
    free: Mutex<Free>,
    limit: u64,
}

impl BufferPool {
    pub(crate) fn new(device: wgpu::Device, limit: u64) -> Arc<Self> {
        Arc::new(Self {
            device,
            free: Mutex::new(Free::default()),
            limit,
        })
    }

    /// A buffer of at least `bytes` bytes (contents undefined).
    pub(crate) fn take(self: &Arc<Self>, bytes: u64) -> PooledBuffer {
        let class = size_class(bytes);
        let reused = {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            let buffer = free.by_class.get_mut(&class).and_then(Vec::pop);
            if buffer.is_some() {
                free.bytes -= class;
            }
            buffer
        };
        let buffer = reused.unwrap_or_else(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("floe activation"),
                size: class,
                usage: USAGE,
                mapped_at_creation: false,
            })
        });
        PooledBuffer {
            buffer: Some(buffer),
            pool: self.clone(),
        }
    }

    fn give_back(&self, buffer: wgpu::Buffer) {
        let class = buffer.size();
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.bytes + class <= self.limit {
            free.bytes += class;
            free.by_class.entry(class).or_default().push(buffer);
        }
    }
}

/// A buffer that goes back to its pool when dropped.
pub(crate) struct PooledBuffer {
    buffer: Option<wgpu::Buffer>,
    pool: Arc<BufferPool>,
}

impl PooledBuffer {
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.buffer
            .as_ref()
            .expect("a pooled buffer is present until dropped")
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool.give_back(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_cover_the_request_with_at_most_a_quarter_more() {
        for bytes in [
            1u64,
            255,
            256,
            257,
            1000,
            1024,
            1025,
            4096 * 3 + 7,
            1 << 30,
            (1 << 30) + 1,
        ] {
            let class = size_class(bytes);
            assert!(class >= bytes, "{bytes} -> {class}");
            assert!(
                class <= 256.max(bytes + bytes / 4 + 1),
                "{bytes} -> {class}"
            );
            assert_eq!(class % 64, 0, "{bytes} -> {class}");
        }
    }
}
