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

/// One allocation: where, how big, and how it was made (so it is freed the same way).
struct Memory {
    ptr: NonNull<u8>,
    capacity: usize,
    mapped: bool,
}

// SAFETY: a `Memory` is an unaliased allocation owned by whoever holds it.
unsafe impl Send for Memory {}

/// A heap buffer aligned to [`IO_ALIGNMENT`] whose capacity is a multiple of it. Its length (the
/// bytes [`AsRef`] shows) is set by whoever fills it and never exceeds the capacity.
pub struct AlignedBuf {
    memory: Memory,
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
        Self {
            memory: allocate(aligned_len(len)),
            len,
            pool: None,
        }
    }

    /// Bytes the buffer can hold (a multiple of [`IO_ALIGNMENT`]).
    pub fn capacity(&self) -> usize {
        self.memory.capacity
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
        self.len = len.min(self.memory.capacity);
    }

    /// The whole capacity, for a read to fill.
    pub fn as_mut_capacity(&mut self) -> &mut [u8] {
        // SAFETY: the allocation is `capacity` initialised (zeroed or previously written) bytes,
        // exclusively borrowed through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.memory.ptr.as_ptr(), self.memory.capacity) }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `len <= capacity` and the allocation is initialised.
        unsafe { std::slice::from_raw_parts(self.memory.ptr.as_ptr(), self.len) }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("capacity", &self.memory.capacity)
            .finish()
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let memory = Memory {
            ptr: self.memory.ptr,
            capacity: self.memory.capacity,
            mapped: self.memory.mapped,
        };
        match self.pool.take() {
            Some(pool) => pool.give_back(memory),
            // SAFETY: made by `allocate` and not freed before; `self` is going away.
            None => unsafe { release(memory) },
        }
    }
}

/// Recycles [`AlignedBuf`] allocations by capacity, keeping at most a byte budget of idle ones.
pub struct BufferPool {
    idle: Mutex<PoolState>,
    max_idle_bytes: usize,
}

struct PoolState {
    by_capacity: HashMap<usize, Vec<Memory>>,
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
            let memory = state.by_capacity.get_mut(&capacity).and_then(Vec::pop);
            if memory.is_some() {
                state.idle_bytes -= capacity;
            }
            memory
        };
        let memory = reused.unwrap_or_else(|| allocate(capacity));
        AlignedBuf {
            memory,
            len,
            pool: Some(Arc::clone(self)),
        }
    }

    /// Bytes of idle buffers currently kept.
    pub fn idle_bytes(&self) -> usize {
        self.lock().idle_bytes
    }

    fn give_back(&self, memory: Memory) {
        let mut state = self.lock();
        if state.idle_bytes + memory.capacity <= self.max_idle_bytes {
            state.idle_bytes += memory.capacity;
            state
                .by_capacity
                .entry(memory.capacity)
                .or_default()
                .push(memory);
        } else {
            drop(state);
            // SAFETY: made by `allocate` and handed back exactly once.
            unsafe { release(memory) };
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
        for slots in state.by_capacity.values_mut() {
            for memory in slots.drain(..) {
                // SAFETY: every idle slot is a live allocation made by `allocate`.
                unsafe { release(memory) };
            }
        }
    }
}

/// Buffers at least this large are mapped on their own, 2 MiB-aligned, and marked for
/// transparent huge pages.
pub const HUGE_THRESHOLD: usize = 1 << 20;
/// The huge-page size large buffers are aligned to.
const HUGE_PAGE: usize = 2 << 20;

fn layout(capacity: usize) -> Layout {
    Layout::from_size_align(capacity, IO_ALIGNMENT)
        .expect("capacity is a non-zero multiple of 4096")
}

/// Allocates `capacity` zeroed bytes aligned to [`IO_ALIGNMENT`]; aborts on out-of-memory like
/// every Rust allocation.
///
/// Large buffers get their own anonymous mapping starting on a 2 MiB boundary with
/// `MADV_HUGEPAGE`: each 2 MiB of the buffer is then one physically contiguous page, so an
/// `O_DIRECT` read into it needs few scatter-gather segments and the block layer sends it to the
/// device as one large request instead of splitting it every 254 pages (measured: about a third
/// as many device requests per blob, see docs/streaming.md).
fn allocate(capacity: usize) -> Memory {
    #[cfg(unix)]
    if capacity >= HUGE_THRESHOLD {
        if let Some(ptr) = map_huge(capacity) {
            return Memory {
                ptr,
                capacity,
                mapped: true,
            };
        }
    }
    let layout = layout(capacity);
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { alloc::alloc_zeroed(layout) };
    let ptr = NonNull::new(ptr).unwrap_or_else(|| alloc::handle_alloc_error(layout));
    Memory {
        ptr,
        capacity,
        mapped: false,
    }
}

/// A fresh 2 MiB-aligned anonymous mapping of `capacity` bytes (zero-filled by the kernel),
/// advised for huge pages; `None` if the kernel refuses the mapping.
#[cfg(unix)]
fn map_huge(capacity: usize) -> Option<NonNull<u8>> {
    let span = capacity.checked_add(HUGE_PAGE)?;
    // SAFETY: an anonymous private mapping; the result is checked.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    let base = raw as usize;
    let start = base.div_ceil(HUGE_PAGE) * HUGE_PAGE;
    let head = start - base;
    let tail = span - head - capacity;
    // SAFETY: trims the unaligned head and the unused tail of the mapping made above, and
    // advises the rest (advice failing only costs speed).
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((start + capacity) as *mut libc::c_void, tail);
        }
        #[cfg(target_os = "linux")]
        libc::madvise(start as *mut libc::c_void, capacity, libc::MADV_HUGEPAGE);
    }
    NonNull::new(start as *mut u8)
}

/// Frees an allocation made by [`allocate`].
///
/// # Safety
/// `memory` must come from `allocate` and not have been freed.
unsafe fn release(memory: Memory) {
    #[cfg(unix)]
    if memory.mapped {
        // SAFETY: guaranteed by the caller: a mapping of `capacity` bytes made by `map_huge`.
        unsafe { libc::munmap(memory.ptr.as_ptr().cast(), memory.capacity) };
        return;
    }
    // SAFETY: guaranteed by the caller.
    unsafe { alloc::dealloc(memory.ptr.as_ptr(), layout(memory.capacity)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_start_on_huge_page_boundaries() {
        let mut buf = AlignedBuf::zeroed(3 << 20);
        assert_eq!(buf.as_mut_capacity().as_ptr() as usize % HUGE_PAGE, 0);
        assert!(buf.as_ref().iter().all(|&b| b == 0));
        buf.as_mut_capacity()[(3 << 20) - 1] = 1;
        let pool = BufferPool::new(8 << 20);
        drop(pool.take(2 << 20));
        assert_eq!(pool.idle_bytes(), 2 << 20);
        let mut again = pool.take(2 << 20);
        assert_eq!(again.as_mut_capacity().as_ptr() as usize % HUGE_PAGE, 0);
    }

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
