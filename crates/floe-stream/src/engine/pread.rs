//! The thread-pool engine: each worker takes the next read from a shared queue and performs it
//! with one blocking call, so `threads` reads are in flight at once.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::{read_into_buffer, BlobData, CompletionSink, ReadEngine, ReadRequest};
use crate::buffer::BufferPool;

/// What a worker does with one request.
pub(crate) type ReadOp = Arc<dyn Fn(&ReadRequest) -> io::Result<BlobData> + Send + Sync>;

struct Job {
    request: ReadRequest,
    sink: Arc<dyn CompletionSink>,
}

struct Queue {
    jobs: VecDeque<Job>,
    closing: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// A pool of worker threads performing reads with a blocking operation. Dropping it lets the
/// queued reads finish, then joins the threads.
pub(crate) struct Workers {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` threads named `name-N`, each running `op` on requests.
    pub(crate) fn start(count: usize, name: &str, op: ReadOp) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closing: false,
            }),
            ready: Condvar::new(),
        });
        let mut workers = Self {
            shared,
            threads: Vec::new(),
        };
        for i in 0..count.max(1) {
            let shared = Arc::clone(&workers.shared);
            let op = Arc::clone(&op);
            let thread = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || work(&shared, &op))?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// Queues a batch.
    pub(crate) fn submit(&self, batch: Vec<ReadRequest>, sink: &Arc<dyn CompletionSink>) {
        if batch.is_empty() {
            return;
        }
        let count = batch.len();
        {
            let mut queue = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            queue.jobs.extend(batch.into_iter().map(|request| Job {
                request,
                sink: Arc::clone(sink),
            }));
        }
        if count == 1 {
            self.shared.ready.notify_one();
        } else {
            self.shared.ready.notify_all();
        }
    }

    /// Number of threads.
    pub(crate) fn count(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closing = true;
        self.shared.ready.notify_all();
        let me = std::thread::current().id();
        for thread in self.threads.drain(..) {
            // The last reference may be dropped by a completion running on a worker itself: that
            // worker sees `closing` and exits on its own; it cannot join itself.
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }
}

fn work(shared: &Shared, op: &ReadOp) {
    loop {
        let job = {
            let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                if queue.closing {
                    return;
                }
                queue = shared
                    .ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let result = op(&job.request);
        job.sink.complete(job.request.tag, result);
    }
}

/// Parallel positioned reads (`pread`) from a pool of threads, into pooled aligned buffers.
pub struct PreadEngine {
    workers: Workers,
}

impl PreadEngine {
    /// An engine with `threads` worker threads (at least one) reading into buffers from `pool`.
    /// Fails only if the threads cannot be started.
    pub fn new(threads: usize, pool: Arc<BufferPool>) -> io::Result<Self> {
        let op: ReadOp = Arc::new(move |request: &ReadRequest| {
            read_into_buffer(&request.file, request.offset, request.len, &pool)
        });
        Ok(Self {
            workers: Workers::start(threads, "floe-pread", op)?,
        })
    }
}

impl ReadEngine for PreadEngine {
    fn name(&self) -> String {
        format!("pread×{}", self.workers.count())
    }

    fn depth(&self) -> usize {
        self.workers.count()
    }

    fn submit(&self, batch: Vec<ReadRequest>, sink: &Arc<dyn CompletionSink>) {
        self.workers.submit(batch, sink);
    }
}
