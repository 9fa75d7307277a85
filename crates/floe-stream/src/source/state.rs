//! The scheduler's state: cache, reads in flight, the demand and prefetch queues, prefetched
//! blobs waiting to be asked for, and the counters. Every method runs under the source's lock
//! and returns the reads to submit, which the caller submits after releasing it.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::blob::Blob;
use super::gate::PrefetchGate;
use super::layout::Layout;
use crate::cache::{Admission, BlobKey, ExpertCache};
use crate::engine::{BlobData, ReadRequest};
use crate::stats::{LayerStats, StreamStats};

/// A read's outcome as handed to a waiting fetch.
pub(crate) struct Delivery {
    /// Position in the fetch's expert list.
    pub index: usize,
    /// The blob, or why it could not be read.
    pub result: Result<Arc<Blob>, ReadFailure>,
}

/// A failed read, copyable to several waiters.
#[derive(Clone, Debug)]
pub(crate) struct ReadFailure {
    /// The I/O error kind.
    pub kind: io::ErrorKind,
    /// Its message.
    pub message: String,
}

struct Waiter {
    tx: Sender<Delivery>,
    index: usize,
}

enum Purpose {
    Demand,
    Prefetch {
        /// A fetch has asked for it since it was issued.
        claimed: bool,
        /// Its layer was fetched (or its hint expired) without it: drop it on arrival.
        stale: bool,
        /// `fetch_seq` when it was hinted.
        hinted_at: u64,
    },
}

struct Inflight {
    purpose: Purpose,
    waiters: Vec<Waiter>,
    issued: bool,
}

/// A completed prefetch nobody has asked for yet.
struct Staged {
    blob: Arc<Blob>,
    hinted_at: u64,
}

/// Where a looked-up blob is.
pub(crate) enum Lookup {
    /// In memory (cache hit or completed prefetch): deliver it now.
    Ready(Arc<Blob>),
    /// A read is queued or in flight; its [`Delivery`] will arrive on the fetch's channel.
    Pending,
}

/// Tunables the state needs.
pub(crate) struct Limits {
    pub depth: usize,
    pub prefetch_min_accuracy: f64,
    pub prefetch_cap: usize,
    pub hint_lifetime: u64,
    pub prefetch: bool,
    pub verify: bool,
}

#[derive(Default)]
struct Counters {
    stats: StreamStats,
    since: Option<Instant>,
}

pub(crate) struct State {
    cache: ExpertCache<Arc<Blob>>,
    inflight: HashMap<BlobKey, Inflight>,
    demand: VecDeque<BlobKey>,
    hinted: VecDeque<(BlobKey, u64)>,
    staged: HashMap<BlobKey, Staged>,
    issued: usize,
    prefetch_in_flight: usize,
    fetch_seq: u64,
    busy_since: Option<Instant>,
    counters: Counters,
    gate: PrefetchGate,
    limits: Limits,
}

/// The engine tag of a blob's read.
pub(crate) fn tag_of(key: BlobKey) -> u64 {
    (u64::from(key.layer) << 32) | u64::from(key.expert)
}

/// The blob a tag names.
pub(crate) fn key_of(tag: u64) -> BlobKey {
    BlobKey {
        layer: (tag >> 32) as u32,
        expert: tag as u32,
    }
}

impl State {
    pub(crate) fn new(cache: ExpertCache<Arc<Blob>>, limits: Limits, layout: &Layout) -> Self {
        let mut state = Self {
            cache,
            inflight: HashMap::new(),
            demand: VecDeque::new(),
            hinted: VecDeque::new(),
            staged: HashMap::new(),
            issued: 0,
            prefetch_in_flight: 0,
            fetch_seq: 0,
            busy_since: None,
            counters: Counters::default(),
            gate: PrefetchGate::new(limits.prefetch_min_accuracy),
            limits,
        };
        state.reset_stats(layout);
        state
    }

    /// Starts a fetch of `layer`: drops expired prefetch state and the queued hints of `layer`
    /// (they are now demand reads or not needed).
    pub(crate) fn begin_fetch(&mut self, layer: u32) {
        self.fetch_seq += 1;
        self.counters.stats.fetches += 1;
        self.expire();
        let before = self.hinted.len();
        self.hinted.retain(|(key, _)| key.layer != layer);
        self.counters.stats.prefetch_dropped += (before - self.hinted.len()) as u64;
    }

    /// Finds `key` for the fetch whose channel is `tx`, queueing a demand read on a miss.
    pub(crate) fn lookup(
        &mut self,
        key: BlobKey,
        position: usize,
        index: usize,
        tx: &Sender<Delivery>,
    ) -> Lookup {
        let stats = &mut self.counters.stats;
        stats.requests += 1;
        stats.per_layer[position].requests += 1;
        if let Some(blob) = self.cache.get(key) {
            stats.hits += 1;
            stats.per_layer[position].hits += 1;
            return Lookup::Ready(blob);
        }
        if let Some(staged) = self.staged.remove(&key) {
            stats.prefetch_hits += 1;
            stats.prefetch_used += 1;
            stats.per_layer[position].prefetch_hits += 1;
            self.gate.used(1);
            return Lookup::Ready(staged.blob);
        }
        let waiter = Waiter {
            tx: tx.clone(),
            index,
        };
        match self.inflight.get_mut(&key) {
            Some(entry) => {
                match &mut entry.purpose {
                    Purpose::Prefetch { claimed, stale, .. } if !*claimed => {
                        *claimed = true;
                        *stale = false;
                        stats.prefetch_hits += 1;
                        stats.prefetch_used += 1;
                        stats.per_layer[position].prefetch_hits += 1;
                        self.gate.used(1);
                    }
                    _ => {
                        stats.misses += 1;
                        stats.per_layer[position].misses += 1;
                    }
                }
                entry.waiters.push(waiter);
            }
            None => {
                stats.misses += 1;
                stats.per_layer[position].misses += 1;
                self.inflight.insert(
                    key,
                    Inflight {
                        purpose: Purpose::Demand,
                        waiters: vec![waiter],
                        issued: false,
                    },
                );
                self.demand.push_back(key);
            }
        }
        Lookup::Pending
    }

    /// Ends the lookups of a fetch of `layer`: prefetched blobs of that layer it did not ask for
    /// are stale now (the layer has been computed).
    pub(crate) fn end_lookups(&mut self, layer: u32) {
        let before = self.staged.len();
        self.staged.retain(|key, _| key.layer != layer);
        self.waste((before - self.staged.len()) as u64);
        for (key, entry) in self.inflight.iter_mut() {
            if let Purpose::Prefetch {
                claimed: false,
                stale,
                ..
            } = &mut entry.purpose
            {
                if key.layer == layer {
                    *stale = true;
                }
            }
        }
    }

    /// Replaces the queued hints of `layer` with `experts` (those not already cached, prefetched
    /// or being read).
    pub(crate) fn hint(&mut self, layer: u32, experts: impl Iterator<Item = u32>) {
        if !self.gate.admits_hint() {
            self.counters.stats.prefetch_suppressed += 1;
            return;
        }
        let before = self.hinted.len();
        self.hinted.retain(|(key, _)| key.layer != layer);
        self.counters.stats.prefetch_dropped += (before - self.hinted.len()) as u64;
        for expert in experts {
            let key = BlobKey { layer, expert };
            let known = self.cache.contains(key)
                || self.staged.contains_key(&key)
                || self.inflight.contains_key(&key)
                || self.hinted.iter().any(|(k, _)| *k == key);
            if !known {
                self.hinted.push_back((key, self.fetch_seq));
            }
        }
    }

    /// Moves queued reads into free engine slots: demand reads first; prefetch reads only when no
    /// demand read is waiting and fewer than the prefetch cap are in flight (so the slots a
    /// demand read needs stay free).
    pub(crate) fn dispatch(&mut self, layout: &Layout) -> Vec<ReadRequest> {
        let mut out = Vec::new();
        while self.issued < self.limits.depth {
            let key = if let Some(key) = self.demand.pop_front() {
                if let Some(entry) = self.inflight.get_mut(&key) {
                    entry.issued = true;
                }
                self.counters.stats.demand_reads += 1;
                key
            } else if self.limits.prefetch && self.prefetch_in_flight < self.limits.prefetch_cap {
                let Some((key, hinted_at)) = self.next_hint() else {
                    break;
                };
                self.inflight.insert(
                    key,
                    Inflight {
                        purpose: Purpose::Prefetch {
                            claimed: false,
                            stale: false,
                            hinted_at,
                        },
                        waiters: Vec::new(),
                        issued: true,
                    },
                );
                self.prefetch_in_flight += 1;
                self.counters.stats.prefetch_issued += 1;
                key
            } else {
                break;
            };
            let Ok(place) = layout.place(key) else {
                continue;
            };
            self.counters.stats.reads_issued += 1;
            self.counters.stats.bytes_read += place.length;
            if self.issued == 0 {
                self.busy_since = Some(Instant::now());
            }
            self.issued += 1;
            out.push(ReadRequest {
                tag: tag_of(key),
                file: Arc::clone(&layout.files[place.file]),
                offset: place.offset,
                len: place.length as usize,
            });
        }
        out
    }

    /// The next fresh hinted blob not already known, with when it was hinted.
    fn next_hint(&mut self) -> Option<(BlobKey, u64)> {
        while let Some((key, hinted_at)) = self.hinted.pop_front() {
            if self.fetch_seq > hinted_at + self.limits.hint_lifetime {
                self.counters.stats.prefetch_dropped += 1;
                continue;
            }
            if self.cache.contains(key)
                || self.staged.contains_key(&key)
                || self.inflight.contains_key(&key)
            {
                continue;
            }
            return Some((key, hinted_at));
        }
        None
    }

    /// Handles a finished read of `key`: hands it to its waiters or stages it.
    pub(crate) fn complete(&mut self, key: BlobKey, result: io::Result<BlobData>, layout: &Layout) {
        self.issued = self.issued.saturating_sub(1);
        if self.issued == 0 {
            if let Some(since) = self.busy_since.take() {
                self.counters.stats.io_busy += since.elapsed();
            }
        }
        let Some(entry) = self.inflight.remove(&key) else {
            return;
        };
        if matches!(entry.purpose, Purpose::Prefetch { .. }) {
            self.prefetch_in_flight = self.prefetch_in_flight.saturating_sub(1);
        }
        let expected = layout.place(key).map(|p| p.length as usize).unwrap_or(0);
        let result = match result {
            Ok(data) if data.len() == expected => Ok(data),
            Ok(data) => Err(crate::engine::short_read(
                data.len(),
                expected,
                layout.place(key).map_or(0, |p| p.offset),
            )),
            Err(err) => Err(err),
        };
        match result {
            Ok(data) => {
                let blob = if self.limits.verify {
                    Blob::new(data)
                } else {
                    Blob::trusted(data)
                };
                if entry.waiters.is_empty() {
                    if let Purpose::Prefetch {
                        stale: false,
                        hinted_at,
                        ..
                    } = entry.purpose
                    {
                        if self.fetch_seq <= hinted_at + self.limits.hint_lifetime {
                            self.staged.insert(key, Staged { blob, hinted_at });
                            return;
                        }
                    }
                    self.waste(1);
                    return;
                }
                for waiter in entry.waiters {
                    let _ = waiter.tx.send(Delivery {
                        index: waiter.index,
                        result: Ok(Arc::clone(&blob)),
                    });
                }
            }
            Err(err) => {
                self.counters.stats.read_errors += 1;
                if entry.waiters.is_empty() {
                    tracing::debug!(
                        "prefetch of expert {} of layer {} failed: {err}",
                        key.expert,
                        key.layer
                    );
                    self.waste(1);
                }
                let failure = ReadFailure {
                    kind: err.kind(),
                    message: err.to_string(),
                };
                for waiter in entry.waiters {
                    let _ = waiter.tx.send(Delivery {
                        index: waiter.index,
                        result: Err(failure.clone()),
                    });
                }
            }
        }
    }

    /// Counts `count` prefetched blobs dropped unused.
    fn waste(&mut self, count: u64) {
        self.counters.stats.prefetch_wasted += count;
        self.gate.wasted(count);
    }

    /// Stores a verified blob in the cache (if the policy takes it).
    pub(crate) fn admit(&mut self, key: BlobKey, blob: &Arc<Blob>) {
        if self.cache.contains(key) {
            return;
        }
        if let Admission::Stored { evicted } = self.cache.insert(key, Arc::clone(blob)) {
            self.counters.stats.evictions += evicted as u64;
        }
    }

    /// Counts checksum work and failures.
    pub(crate) fn record_verify(&mut self, time: Duration, failed: bool) {
        self.counters.stats.verify_time += time;
        if failed {
            self.counters.stats.checksum_failures += 1;
        }
    }

    /// Counts time a fetch spent waiting and in total.
    pub(crate) fn record_fetch(&mut self, stall: Duration, total: Duration) {
        self.counters.stats.stall += stall;
        self.counters.stats.fetch_time += total;
    }

    /// Drops prefetch state whose hint expired.
    fn expire(&mut self) {
        let (seq, lifetime) = (self.fetch_seq, self.limits.hint_lifetime);
        let before = self.staged.len();
        self.staged
            .retain(|_, staged| seq <= staged.hinted_at + lifetime);
        self.waste((before - self.staged.len()) as u64);
        let before = self.hinted.len();
        self.hinted
            .retain(|(_, hinted_at)| seq <= hinted_at + lifetime);
        self.counters.stats.prefetch_dropped += (before - self.hinted.len()) as u64;
    }

    /// Empties the cache and the prefetched blobs.
    pub(crate) fn clear(&mut self) {
        self.cache.clear();
        self.staged.clear();
        self.hinted.clear();
    }

    /// The statistics now.
    pub(crate) fn snapshot(&self) -> StreamStats {
        let mut stats = self.counters.stats.clone();
        if let Some(since) = self.busy_since {
            stats.io_busy += since.elapsed();
        }
        stats.elapsed = self
            .counters
            .since
            .map_or(Duration::ZERO, |since| since.elapsed());
        stats.prefetch_score = self.gate.score();
        stats.cached_blobs = self.cache.len() as u64;
        stats.cached_bytes = self.cache.used();
        stats
    }

    /// Zeroes the counters (the cache and reads in flight are kept).
    pub(crate) fn reset_stats(&mut self, layout: &Layout) {
        let per_layer = layout
            .layers
            .iter()
            .map(|l| LayerStats {
                layer: l.layer,
                ..LayerStats::default()
            })
            .collect();
        self.counters = Counters {
            stats: StreamStats {
                per_layer,
                ..StreamStats::default()
            },
            since: Some(Instant::now()),
        };
        if self.busy_since.is_some() {
            self.busy_since = Some(Instant::now());
        }
    }
}
