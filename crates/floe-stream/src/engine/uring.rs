//! The `io_uring` engine: one ring driven by one thread, up to `queue_depth` reads in flight.
//!
//! `submit` appends to an inbox and bumps an eventfd; the ring keeps a poll on that eventfd armed,
//! so the ring thread wakes for new work as promptly as for completions, and a demand read never
//! waits behind an in-flight one to be noticed. Short reads are resubmitted for the remainder.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use io_uring::{opcode, types, IoUring, Probe};

use super::{short_read, BlobData, CompletionSink, ReadEngine, ReadRequest};
use crate::buffer::{aligned_len, AlignedBuf, BufferPool, IO_ALIGNMENT};

/// The largest queue depth accepted.
pub const MAX_QUEUE_DEPTH: usize = 4096;
/// `user_data` of the eventfd poll.
const WAKE: u64 = u64::MAX;

struct Job {
    request: ReadRequest,
    sink: Arc<dyn CompletionSink>,
}

struct InboxState {
    jobs: VecDeque<Job>,
    /// Set when the ring failed for good: later submissions fail at once with this message.
    broken: Option<String>,
}

struct Inbox {
    state: Mutex<InboxState>,
    closing: AtomicBool,
    wake: OwnedFd,
}

impl Inbox {
    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to an eventfd we own. A full counter (EAGAIN)
        // already means "wake up", so the result is irrelevant.
        let _ = unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

/// Reads through one `io_uring` instance.
pub struct UringEngine {
    inbox: Arc<Inbox>,
    depth: usize,
    thread: Option<JoinHandle<()>>,
}

impl UringEngine {
    /// A ring with room for `queue_depth` reads in flight, reading into buffers from `pool`.
    /// Fails if the kernel refuses `io_uring` (disabled, too old, seccomp) or lacks the read and
    /// poll operations, so the caller can fall back.
    pub fn new(queue_depth: usize, pool: Arc<BufferPool>) -> io::Result<Self> {
        if queue_depth == 0 || queue_depth > MAX_QUEUE_DEPTH {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("io_uring queue depth {queue_depth} is outside 1..={MAX_QUEUE_DEPTH}"),
            ));
        }
        let entries = u32::try_from(queue_depth + 1)
            .expect("depth is at most 4096")
            .next_power_of_two();
        let ring = IoUring::new(entries)?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for (code, name) in [
            (opcode::Read::CODE, "READ"),
            (opcode::PollAdd::CODE, "POLL_ADD"),
        ] {
            if !probe.is_supported(code) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the kernel's io_uring lacks IORING_OP_{name}"),
                ));
            }
        }
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor we own.
        let wake = unsafe { OwnedFd::from_raw_fd(fd) };
        let inbox = Arc::new(Inbox {
            state: Mutex::new(InboxState {
                jobs: VecDeque::new(),
                broken: None,
            }),
            closing: AtomicBool::new(false),
            wake,
        });
        let ring_inbox = Arc::clone(&inbox);
        let thread = std::thread::Builder::new()
            .name("floe-uring".into())
            .spawn(move || RingLoop::new(ring, queue_depth, pool, ring_inbox).run())?;
        Ok(Self {
            inbox,
            depth: queue_depth,
            thread: Some(thread),
        })
    }
}

impl ReadEngine for UringEngine {
    fn name(&self) -> String {
        format!("io_uring qd{}", self.depth)
    }

    fn depth(&self) -> usize {
        self.depth
    }

    fn submit(&self, batch: Vec<ReadRequest>, sink: &Arc<dyn CompletionSink>) {
        if batch.is_empty() {
            return;
        }
        let mut state = self
            .inbox
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(message) = state.broken.clone() {
            drop(state);
            for request in batch {
                sink.complete(request.tag, Err(io::Error::other(message.clone())));
            }
            return;
        }
        state.jobs.extend(batch.into_iter().map(|request| Job {
            request,
            sink: Arc::clone(sink),
        }));
        drop(state);
        self.inbox.wake();
    }
}

impl Drop for UringEngine {
    fn drop(&mut self) {
        self.inbox.closing.store(true, Ordering::SeqCst);
        self.inbox.wake();
        if let Some(thread) = self.thread.take() {
            // Dropped from a completion on the ring thread itself: it exits once its reads finish.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// A read in flight: the kernel writes into `buf` until `done == want` or end of file.
struct Pending {
    job: Job,
    buf: AlignedBuf,
    want: usize,
    done: usize,
}

struct RingLoop {
    ring: IoUring,
    depth: usize,
    pool: Arc<BufferPool>,
    inbox: Arc<Inbox>,
    backlog: VecDeque<Job>,
    slots: Vec<Option<Pending>>,
    free: Vec<usize>,
    poll_armed: bool,
}

impl RingLoop {
    fn new(ring: IoUring, depth: usize, pool: Arc<BufferPool>, inbox: Arc<Inbox>) -> Self {
        Self {
            ring,
            depth,
            pool,
            inbox,
            backlog: VecDeque::new(),
            slots: (0..depth).map(|_| None).collect(),
            free: (0..depth).rev().collect(),
            poll_armed: false,
        }
    }

    fn in_flight(&self) -> usize {
        self.depth - self.free.len()
    }

    fn run(mut self) {
        loop {
            self.backlog.extend(
                self.inbox
                    .state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .jobs
                    .drain(..),
            );
            let closing = self.inbox.closing.load(Ordering::SeqCst);
            if closing {
                for job in self.backlog.drain(..) {
                    let err = io::Error::new(
                        io::ErrorKind::Interrupted,
                        "the io_uring engine is shutting down",
                    );
                    job.sink.complete(job.request.tag, Err(err));
                }
                if self.in_flight() == 0 {
                    return;
                }
            }
            let mut finished = Vec::new();
            self.fill(&mut finished);
            if !self.poll_armed && !closing {
                self.arm_poll();
            }
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(err)
                    if err.raw_os_error() == Some(libc::EINTR)
                        || err.raw_os_error() == Some(libc::EBUSY) => {}
                Err(err) => {
                    self.fail_everything(&err, &mut finished);
                    deliver(finished);
                    return;
                }
            }
            self.reap(&mut finished);
            deliver(finished);
        }
    }

    /// Moves backlog jobs into free slots as read SQEs.
    fn fill(&mut self, finished: &mut Vec<(Job, io::Result<BlobData>)>) {
        while let Some(&slot) = self.free.last() {
            let Some(job) = self.backlog.pop_front() else {
                break;
            };
            let want = if job.request.file.is_direct() {
                aligned_len(job.request.len)
            } else {
                job.request.len
            };
            if u32::try_from(want).is_err() {
                let err = io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a read of {want} bytes is too large for io_uring"),
                );
                finished.push((job, Err(err)));
                continue;
            }
            self.free.pop();
            let buf = self.pool.take(job.request.len);
            self.slots[slot] = Some(Pending {
                job,
                buf,
                want,
                done: 0,
            });
            self.push_read(slot);
        }
    }

    /// Queues the (remaining) read of `slot`.
    fn push_read(&mut self, slot: usize) {
        let pending = self.slots[slot].as_mut().expect("slot is in use");
        let fd: RawFd = pending.job.request.file.file().as_raw_fd();
        let remaining = (pending.want - pending.done) as u32;
        // SAFETY: the buffer lives in the slot until its completion is reaped.
        let target = unsafe { pending.buf.as_mut_capacity().as_mut_ptr().add(pending.done) };
        let entry = opcode::Read::new(types::Fd(fd), target, remaining)
            .offset(pending.job.request.offset + pending.done as u64)
            .build()
            .user_data(slot as u64);
        self.push(&entry);
    }

    fn arm_poll(&mut self) {
        let entry =
            opcode::PollAdd::new(types::Fd(self.inbox.wake.as_raw_fd()), libc::POLLIN as u32)
                .build()
                .user_data(WAKE);
        self.push(&entry);
        self.poll_armed = true;
    }

    fn push(&mut self, entry: &io_uring::squeue::Entry) {
        loop {
            // SAFETY: every pointer in the entry stays valid until its completion is reaped.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return;
            }
            // The submission queue is full: hand it to the kernel and retry.
            let _ = self.ring.submit();
        }
    }

    fn reap(&mut self, finished: &mut Vec<(Job, io::Result<BlobData>)>) {
        let completions: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (user_data, result) in completions {
            if user_data == WAKE {
                self.poll_armed = false;
                let mut counter = 0u64;
                // SAFETY: reads 8 bytes into a valid u64 from our non-blocking eventfd.
                let _ = unsafe {
                    libc::read(
                        self.inbox.wake.as_raw_fd(),
                        (&mut counter as *mut u64).cast(),
                        8,
                    )
                };
                continue;
            }
            self.complete_read(user_data as usize, result, finished);
        }
    }

    fn complete_read(
        &mut self,
        slot: usize,
        result: i32,
        finished: &mut Vec<(Job, io::Result<BlobData>)>,
    ) {
        let pending = self.slots[slot]
            .as_mut()
            .expect("completion for a slot in use");
        let outcome = if result < 0 {
            let err = io::Error::from_raw_os_error(-result);
            if matches!(-result, libc::EINTR | libc::EAGAIN) {
                self.push_read(slot);
                return;
            }
            Err(err)
        } else {
            let got = result as usize;
            pending.done += got;
            let eof =
                got == 0 || (pending.job.request.file.is_direct() && got & (IO_ALIGNMENT - 1) != 0);
            if pending.done < pending.want && !eof {
                self.push_read(slot);
                return;
            }
            let len = pending.job.request.len;
            if pending.done < len {
                Err(short_read(pending.done, len, pending.job.request.offset))
            } else {
                Ok(())
            }
        };
        let mut pending = self.slots[slot].take().expect("slot is in use");
        self.free.push(slot);
        let result = outcome.map(|()| {
            pending.buf.set_len(pending.job.request.len);
            BlobData::Aligned(pending.buf)
        });
        finished.push((pending.job, result));
    }

    /// The ring itself failed: every read in flight or queued fails with that error, and so does
    /// every later submission (at once, inside `submit`). Buffers of reads still owned by the
    /// kernel are leaked rather than freed under it.
    fn fail_everything(
        &mut self,
        err: &io::Error,
        finished: &mut Vec<(Job, io::Result<BlobData>)>,
    ) {
        let message = format!("io_uring failed: {err}");
        for slot in self.slots.iter_mut() {
            if let Some(pending) = slot.take() {
                let Pending { job, buf, .. } = pending;
                std::mem::forget(buf);
                finished.push((job, Err(io::Error::other(message.clone()))));
            }
        }
        self.free = (0..self.depth).collect();
        let mut state = self
            .inbox
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.broken = Some(message.clone());
        self.backlog.extend(state.jobs.drain(..));
        drop(state);
        for job in self.backlog.drain(..) {
            finished.push((job, Err(io::Error::other(message.clone()))));
        }
    }
}

fn deliver(finished: Vec<(Job, io::Result<BlobData>)>) {
    for (job, result) in finished {
        job.sink.complete(job.request.tag, result);
    }
}
