//! An engine that injects faults into another engine's reads, for tests: I/O errors, short
//! reads, corrupted bytes and delays, on chosen reads.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{BlobData, CompletionSink, ReadEngine, ReadRequest};

/// What happens to a read a [`Fault`] matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The read fails with an error of this kind (synchronously, inside `submit`).
    Error(io::ErrorKind),
    /// The read completes with only its first `keep` bytes.
    ShortRead {
        /// Bytes kept.
        keep: usize,
    },
    /// One byte of the result is flipped (a checksum must catch it).
    Corrupt,
    /// The completion is held back this long (on the engine's thread).
    Delay(Duration),
}

/// Which reads a [`Fault`] applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultTarget {
    /// The read of `file` at exactly `offset`.
    At {
        /// The file's path as the request carries it.
        file: PathBuf,
        /// The byte offset.
        offset: u64,
    },
    /// The `n`-th read submitted through this engine (0-based).
    Nth(u64),
    /// Every read.
    Every,
}

/// One injection rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Which reads.
    pub target: FaultTarget,
    /// What happens to them.
    pub kind: FaultKind,
    /// How many matching reads it affects (`None`: all of them).
    pub times: Option<usize>,
}

impl Fault {
    /// A fault on the read of `file` at `offset`, every time it is read.
    pub fn at(file: impl Into<PathBuf>, offset: u64, kind: FaultKind) -> Self {
        Self {
            target: FaultTarget::At {
                file: file.into(),
                offset,
            },
            kind,
            times: None,
        }
    }

    /// A fault on the `n`-th read submitted.
    pub fn nth(n: u64, kind: FaultKind) -> Self {
        Self {
            target: FaultTarget::Nth(n),
            kind,
            times: Some(1),
        }
    }

    /// A fault on every read.
    pub fn every(kind: FaultKind) -> Self {
        Self {
            target: FaultTarget::Every,
            kind,
            times: None,
        }
    }

    /// Limits the fault to the first `times` matching reads.
    pub fn times(mut self, times: usize) -> Self {
        self.times = Some(times);
        self
    }
}

/// A list of [`Fault`]s; the first matching rule with uses left applies.
pub type FaultPlan = Vec<Fault>;

/// Wraps an engine and applies a [`FaultPlan`] to the reads passing through it.
pub struct FaultyEngine {
    inner: Arc<dyn ReadEngine>,
    plan: Mutex<FaultPlan>,
    submitted: AtomicU64,
}

impl FaultyEngine {
    /// `inner` with `plan` applied.
    pub fn new(inner: Arc<dyn ReadEngine>, plan: FaultPlan) -> Self {
        Self {
            inner,
            plan: Mutex::new(plan),
            submitted: AtomicU64::new(0),
        }
    }

    fn fault_for(&self, index: u64, request: &ReadRequest) -> Option<FaultKind> {
        let mut plan = self.plan.lock().unwrap_or_else(PoisonError::into_inner);
        let rule = plan.iter_mut().find(|rule| {
            rule.times != Some(0)
                && match &rule.target {
                    FaultTarget::At { file, offset } => {
                        file == request.file.path() && *offset == request.offset
                    }
                    FaultTarget::Nth(n) => *n == index,
                    FaultTarget::Every => true,
                }
        })?;
        if let Some(times) = rule.times.as_mut() {
            *times -= 1;
        }
        Some(rule.kind.clone())
    }
}

/// Applies the completion-time faults of one batch before passing results on.
struct FaultSink {
    inner: Arc<dyn CompletionSink>,
    faults: Mutex<HashMap<u64, FaultKind>>,
}

impl CompletionSink for FaultSink {
    fn complete(&self, tag: u64, mut result: io::Result<BlobData>) {
        let fault = self
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&tag);
        match (fault, result.as_mut()) {
            (Some(FaultKind::ShortRead { keep }), Ok(data)) => data.truncate(keep),
            (Some(FaultKind::Corrupt), Ok(data)) => data.corrupt(data.len() / 2),
            (Some(FaultKind::Delay(pause)), _) => std::thread::sleep(pause),
            _ => {}
        }
        self.inner.complete(tag, result);
    }
}

impl ReadEngine for FaultyEngine {
    fn name(&self) -> String {
        format!("faulty {}", self.inner.name())
    }

    fn depth(&self) -> usize {
        self.inner.depth()
    }

    /// Fails [`FaultKind::Error`] reads synchronously through `sink` before returning; passes the
    /// rest to the inner engine.
    fn submit(&self, batch: Vec<ReadRequest>, sink: &Arc<dyn CompletionSink>) {
        let mut forward = Vec::with_capacity(batch.len());
        let mut later = HashMap::new();
        for request in batch {
            let index = self.submitted.fetch_add(1, Ordering::SeqCst);
            match self.fault_for(index, &request) {
                Some(FaultKind::Error(kind)) => {
                    let err = io::Error::new(kind, format!("injected fault on read #{index}"));
                    sink.complete(request.tag, Err(err));
                }
                Some(other) => {
                    later.insert(request.tag, other);
                    forward.push(request);
                }
                None => forward.push(request),
            }
        }
        let wrapped: Arc<dyn CompletionSink> = if later.is_empty() {
            Arc::clone(sink)
        } else {
            Arc::new(FaultSink {
                inner: Arc::clone(sink),
                faults: Mutex::new(later),
            })
        };
        self.inner.submit(forward, &wrapped);
    }
}
