//! Read engines: they take a batch of `(file, offset, length)` reads and complete each one, in any
//! order, into an aligned buffer (or, for the mmap baseline, a view of the mapping).
//!
//! * [`PreadEngine`]: a pool of threads issuing positioned reads (`pread`).
//! * [`UringEngine`] (Linux): one `io_uring` with a configurable queue depth.
//! * [`MmapEngine`]: maps the files and faults each blob's pages in; kept only as a measured
//!   baseline (Flash-MoE found mmap 5× slower than `pread` for experts).
//! * [`FaultyEngine`]: wraps another engine and injects errors, short reads, corruption and
//!   delays, for tests.
//!
//! Files are opened either with `O_DIRECT` (reads bypass the page cache; offsets, lengths and
//! buffers are 4096-aligned) or buffered (through the page cache): see [`IoMode`].

mod fault;
mod file;
mod mmap;
mod pread;
#[cfg(target_os = "linux")]
mod uring;

use std::io;
use std::sync::Arc;

pub use fault::{Fault, FaultKind, FaultPlan, FaultTarget, FaultyEngine};
pub use file::{BlobData, BlobFile, IoMode};
pub use mmap::MmapEngine;
pub use pread::PreadEngine;
#[cfg(target_os = "linux")]
pub use uring::UringEngine;

use crate::buffer::BufferPool;

/// One read: `len` bytes of `file` at `offset`. `tag` identifies it in the completion.
#[derive(Clone, Debug)]
pub struct ReadRequest {
    /// Caller-chosen identifier, handed back with the completion.
    pub tag: u64,
    /// The file to read.
    pub file: Arc<BlobFile>,
    /// Byte offset (a multiple of 4096 when the file is opened `O_DIRECT`).
    pub offset: u64,
    /// Bytes to read.
    pub len: usize,
}

/// Receives completed reads. Engines call it from their own threads, possibly while another
/// completion is being handled, and never while holding a lock of their own that `submit` takes.
pub trait CompletionSink: Send + Sync {
    /// The read tagged `tag` finished: exactly the requested bytes, or the error.
    fn complete(&self, tag: u64, result: io::Result<BlobData>);
}

/// Something that performs batches of reads asynchronously.
pub trait ReadEngine: Send + Sync {
    /// A short description, e.g. `pread×4` or `io_uring qd16`.
    fn name(&self) -> String;

    /// How many reads it works on at once (threads or queue depth): the scheduler keeps at most
    /// this many in flight.
    fn depth(&self) -> usize;

    /// Starts every read of `batch`; each completes exactly once through `sink`, in any order,
    /// usually on an engine thread. Never blocks on I/O. A read that fails before it starts (an
    /// injected [`FaultyEngine`] error, a broken `io_uring`) may complete inside this call, so
    /// callers must not hold a lock their sink takes while submitting.
    fn submit(&self, batch: Vec<ReadRequest>, sink: &Arc<dyn CompletionSink>);
}

/// Which engine to build, with its parallelism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// [`PreadEngine`] with this many threads.
    Pread {
        /// Worker threads (each has one read in flight).
        threads: usize,
    },
    /// [`UringEngine`] with this queue depth; falls back to `pread` with as many threads (and a
    /// logged notice) where the kernel refuses `io_uring`.
    IoUring {
        /// Reads in flight.
        queue_depth: usize,
    },
    /// [`MmapEngine`] with this many faulting threads (a baseline only).
    Mmap {
        /// Worker threads.
        threads: usize,
    },
}

impl EngineKind {
    /// Parses `pread`, `io_uring` (or `uring`) or `mmap` with the given parallelism.
    pub fn parse(name: &str, parallelism: usize) -> Result<Self, crate::StreamError> {
        if parallelism == 0 {
            return Err(crate::StreamError::Config(format!(
                "engine '{name}' needs at least one thread / queue slot (got 0)"
            )));
        }
        match name {
            "pread" => Ok(EngineKind::Pread {
                threads: parallelism,
            }),
            "io_uring" | "uring" => Ok(EngineKind::IoUring {
                queue_depth: parallelism,
            }),
            "mmap" => Ok(EngineKind::Mmap {
                threads: parallelism,
            }),
            other => Err(crate::StreamError::Config(format!(
                "unknown engine '{other}' (expected pread, io_uring or mmap)"
            ))),
        }
    }

    /// The number of reads in flight it allows.
    pub fn parallelism(&self) -> usize {
        match *self {
            EngineKind::Pread { threads } | EngineKind::Mmap { threads } => threads,
            EngineKind::IoUring { queue_depth } => queue_depth,
        }
    }

    /// Builds the engine. Read buffers come from `pool`.
    pub fn build(&self, pool: Arc<BufferPool>) -> Result<Arc<dyn ReadEngine>, crate::StreamError> {
        if self.parallelism() == 0 {
            return Err(crate::StreamError::Config(
                "an engine needs at least one thread / queue slot (got 0)".into(),
            ));
        }
        let spawn_error =
            |e: io::Error| crate::StreamError::Config(format!("cannot start the I/O threads: {e}"));
        Ok(match *self {
            EngineKind::Pread { threads } => {
                Arc::new(PreadEngine::new(threads, pool).map_err(spawn_error)?)
            }
            EngineKind::Mmap { threads } => {
                Arc::new(MmapEngine::new(threads).map_err(spawn_error)?)
            }
            EngineKind::IoUring { queue_depth } => {
                uring_or_fallback(queue_depth, pool).map_err(spawn_error)?
            }
        })
    }
}

#[cfg(target_os = "linux")]
fn uring_or_fallback(queue_depth: usize, pool: Arc<BufferPool>) -> io::Result<Arc<dyn ReadEngine>> {
    with_fallback(
        UringEngine::new(queue_depth, Arc::clone(&pool)),
        queue_depth,
        pool,
    )
}

#[cfg(not(target_os = "linux"))]
fn uring_or_fallback(queue_depth: usize, pool: Arc<BufferPool>) -> io::Result<Arc<dyn ReadEngine>> {
    with_fallback::<PreadEngine>(
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring exists only on Linux",
        )),
        queue_depth,
        pool,
    )
}

/// The engine `attempt` built, or on failure a `pread` engine with `threads` threads and a logged
/// notice saying why.
fn with_fallback<E: ReadEngine + 'static>(
    attempt: io::Result<E>,
    threads: usize,
    pool: Arc<BufferPool>,
) -> io::Result<Arc<dyn ReadEngine>> {
    match attempt {
        Ok(engine) => Ok(Arc::new(engine)),
        Err(err) => {
            tracing::warn!(
                "io_uring is not available ({err}); falling back to pread with {threads} threads"
            );
            Ok(Arc::new(PreadEngine::new(threads, pool)?))
        }
    }
}

/// Reads `len` bytes at `offset` into a buffer from `pool`, looping over short reads. With
/// `O_DIRECT` the read is rounded up to whole 4096-byte blocks (blobs are padded to them; the
/// last one of a file may end early, which is fine as long as `len` bytes arrive).
pub(crate) fn read_into_buffer(
    file: &BlobFile,
    offset: u64,
    len: usize,
    pool: &Arc<BufferPool>,
) -> io::Result<BlobData> {
    use std::os::unix::fs::FileExt;
    let mut buf = pool.take(len);
    let want = if file.is_direct() {
        crate::buffer::aligned_len(len)
    } else {
        len
    };
    let target = &mut buf.as_mut_capacity()[..want];
    let mut done = 0usize;
    while done < want {
        match file
            .file()
            .read_at(&mut target[done..], offset + done as u64)
        {
            Ok(0) => break,
            Ok(n) => {
                done += n;
                if file.is_direct() && n & (crate::buffer::IO_ALIGNMENT - 1) != 0 {
                    break; // a partial block under O_DIRECT only happens at end of file
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    if done < len {
        return Err(short_read(done, len, offset));
    }
    buf.set_len(len);
    Ok(BlobData::Aligned(buf))
}

/// The error of a read that got `got` of `len` bytes at `offset`.
pub(crate) fn short_read(got: usize, len: usize, offset: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("short read: got {got} of {len} bytes at offset {offset} (the file ends early)"),
    )
}

#[cfg(test)]
pub(crate) mod tests;
