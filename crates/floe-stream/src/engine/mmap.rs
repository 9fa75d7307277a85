//! The mmap baseline: a blob is a range of the file's memory map, and "reading" it means faulting
//! its pages in (one touch per 4 KiB page) on a worker thread. Kept only to measure against the
//! real engines; the result is zero-copy but every first touch of a page is a page fault.

use std::io;
use std::sync::Arc;

use super::pread::{ReadOp, Workers};
use super::{BlobData, CompletionSink, ReadEngine, ReadRequest};

/// Faults blobs in from memory-mapped files on a pool of threads.
pub struct MmapEngine {
    workers: Workers,
}

impl MmapEngine {
    /// An engine with `threads` faulting threads (at least one). Fails only if the threads cannot
    /// be started.
    pub fn new(threads: usize) -> io::Result<Self> {
        let op: ReadOp = Arc::new(map_and_touch);
        Ok(Self {
            workers: Workers::start(threads, "floe-mmap", op)?,
        })
    }
}

fn map_and_touch(request: &ReadRequest) -> io::Result<BlobData> {
    let map = request.file.mmap()?;
    let start = usize::try_from(request.offset)
        .map_err(|_| io::Error::other("offset beyond the address space"))?;
    let available = map.len().saturating_sub(start);
    if available < request.len {
        return Err(super::short_read(available, request.len, request.offset));
    }
    let range = &map[start..start + request.len];
    let mut sum = 0u8;
    for page in range.chunks(crate::buffer::IO_ALIGNMENT) {
        // SAFETY: `page` is a non-empty in-bounds slice; the volatile read forces the fault.
        sum = sum.wrapping_add(unsafe { std::ptr::read_volatile(page.as_ptr()) });
    }
    std::hint::black_box(sum);
    Ok(BlobData::Mapped {
        map,
        offset: start,
        len: request.len,
    })
}

impl ReadEngine for MmapEngine {
    fn name(&self) -> String {
        format!("mmap×{}", self.workers.count())
    }

    fn depth(&self) -> usize {
        self.workers.count()
    }

    fn submit(&self, batch: Vec<ReadRequest>, sink: &Arc<dyn CompletionSink>) {
        self.workers.submit(batch, sink);
    }
}
