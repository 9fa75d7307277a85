//! 4096-byte-aligned read buffers (what `O_DIRECT` needs) and a pool that recycles them.
//!
//! An [`AlignedBuf`] owns its memory and implements `AsRef<[u8]>`, so
//! `bytes::Bytes::from_owner` wraps it without copying: a blob read from disk reaches the model
//! in the buffer the kernel wrote. When the last reference drops, the memory goes back to its
//! [`BufferPool`] (if it came from one), so steady-state streaming allocates nothing and does not
//! pay page faults on fresh memory for every read.

use std::alloc::{self, Layout};
use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

/// The alignment of every buffer, and the granularity of `O_DIRECT` offsets and lengths.
pub const IO_ALIGNMENT: usize = 4096;

/// Rounds `len` up to a multiple of [`IO_ALIGNMENT`] (at least one block).
pub fn aligned_len(len: usize) -> usize {
    len.max(1).div_ceil(IO_ALIGNMENT) * IO_ALIGNMENT
}

/// A heap buffer aligned to [`IO_ALIGNMENT`] whose capacity is a multiple of it. Its length (the
/// bytes [`AsRef`] shows) is set by whoever fills it and never exceeds the capacity.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    capacity: usize,
    len: usize,
    pool: Option<Arc<BufferPool>>,
}

// SAFETY: the buffer exclusively owns its allocation; shared access only reads it.
unsafe impl Send for AlignedBuf {}
// SAFETY: `&AlignedBuf` only gives out `&[u8]`.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer with room for at least `len` bytes, of length `len`, not pooled.
    pub fn zeroed(len: usize) -> Self {
        let capacity = aligned_len(len);
        Self {
            ptr: allocate(capacity),
            capacity,
            len,
            pool: None,
        }
    }

    /// Bytes the buffer can hold (a multiple of [`IO_ALIGNMENT`]).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The current length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the length is zero.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the length; values above the capacity are clamped to it.
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.capacity);
    }

    /// The whole capacity, for a read to fill.
    pub fn as_mut_capacity(&mut self) -> &mut [u8] {
        // SAFETY: the allocation is `capacity` initialised (zeroed or previously written) bytes,
        // exclusively borrowed through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.capacity) }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `len <= capacity` and the allocation is initialised.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        match self.pool.take() {
            Some(pool) => pool.give_back(self.ptr, self.capacity),
            // SAFETY: allocated by `allocate(self.capacity)` and not freed before.
            None => unsafe { release(self.ptr, self.capacity) },
        }
    }
}

/// A raw allocation kept by the pool.
struct Slot(NonNull<u8>);
// SAFETY: a slot is an unaliased allocation owned by the pool.
unsafe impl Send for Slot {}

/// Recycles [`AlignedBuf`] allocations by capacity, keeping at most a byte budget of idle ones.
pub struct BufferPool {
    idle: Mutex<PoolState>,
    max_idle_bytes: usize,
}

struct PoolState {
    by_capacity: HashMap<usize, Vec<Slot>>,
    idle_bytes: usize,
}

impl BufferPool {
    /// A pool that keeps up to `max_idle_bytes` of returned buffers for reuse.
    pub fn new(max_idle_bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(PoolState {
                by_capacity: HashMap::new(),
                idle_bytes: 0,
            }),
            max_idle_bytes,
        })
    }

    /// A buffer of length `len` (contents unspecified: zeros or an earlier read's bytes).
    pub fn take(self: &Arc<Self>, len: usize) -> AlignedBuf {
        let capacity = aligned_len(len);
        let reused = {
            let mut state = self.lock();
            let slot = state.by_capacity.get_mut(&capacity).and_then(Vec::pop);
            if slot.is_some() {
                state.idle_bytes -= capacity;
            }
            slot
        };
        let ptr = reused.map_or_else(|| allocate(capacity), |slot| slot.0);
        AlignedBuf {
            ptr,
            capacity,
            len,
            pool: Some(Arc::clone(self)),
        }
    }

    /// Bytes of idle buffers currently kept.
    pub fn idle_bytes(&self) -> usize {
        self.lock().idle_bytes
    }

    fn give_back(&self, ptr: NonNull<u8>, capacity: usize) {
        let mut state = self.lock();
        if state.idle_bytes + capacity <= self.max_idle_bytes {
            state.idle_bytes += capacity;
            state
                .by_capacity
                .entry(capacity)
                .or_default()
                .push(Slot(ptr));
        } else {
            drop(state);
            // SAFETY: allocated by `allocate(capacity)` and handed back exactly once.
            unsafe { release(ptr, capacity) };
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for BufferPool {
    fn drop(&mut self) {
        let state = self
            .idle
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (&capacity, slots) in &mut state.by_capacity {
            for slot in slots.drain(..) {
                // SAFETY: every idle slot is a live allocation of `capacity` bytes.
                unsafe { release(slot.0, capacity) };
            }
        }
    }
}

fn layout(capacity: usize) -> Layout {
    Layout::from_size_align(capacity, IO_ALIGNMENT)
        .expect("capacity is a non-zero multiple of 4096")
}

/// Allocates `capacity` zeroed bytes aligned to [`IO_ALIGNMENT`]; aborts on out-of-memory like
/// every Rust allocation.
fn allocate(capacity: usize) -> NonNull<u8> {
    let layout = layout(capacity);
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { alloc::alloc_zeroed(layout) };
    NonNull::new(ptr).unwrap_or_else(|| alloc::handle_alloc_error(layout))
}

/// Frees an allocation made by [`allocate`].
///
/// # Safety
/// `ptr` must come from `allocate(capacity)` and not have been freed.
unsafe fn release(ptr: NonNull<u8>, capacity: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { alloc::dealloc(ptr.as_ptr(), layout(capacity)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_and_rounded_up() {
        let mut buf = AlignedBuf::zeroed(5000);
        assert_eq!(buf.capacity(), 8192);
        assert_eq!(buf.len(), 5000);
        assert_eq!(buf.as_mut_capacity().as_ptr() as usize % IO_ALIGNMENT, 0);
        assert!(buf.as_ref().iter().all(|&b| b == 0));
        buf.set_len(100_000);
        assert_eq!(buf.len(), 8192);
    }

    #[test]
    fn pool_reuses_returned_buffers_within_its_budget() {
        let pool = BufferPool::new(8192);
        let mut first = pool.take(4096);
        first.as_mut_capacity()[0] = 7;
        let address = first.as_mut_capacity().as_ptr() as usize;
        drop(first);
        assert_eq!(pool.idle_bytes(), 4096);
        let mut again = pool.take(100);
        assert_eq!(again.as_mut_capacity().as_ptr() as usize, address);
        assert_eq!(pool.idle_bytes(), 0);
        let big = pool.take(16384);
        drop(big); // over the budget: freed, not kept
        assert_eq!(pool.idle_bytes(), 0);
        drop(again);
        assert_eq!(pool.idle_bytes(), 4096);
    }

    #[test]
    fn bytes_from_owner_is_zero_copy() {
        let mut buf = AlignedBuf::zeroed(16);
        buf.as_mut_capacity()[..4].copy_from_slice(b"floe");
        let address = buf.as_ref().as_ptr();
        let bytes = bytes::Bytes::from_owner(buf);
        assert_eq!(&bytes[..4], b"floe");
        assert_eq!(bytes.as_ptr(), address);
    }
}
