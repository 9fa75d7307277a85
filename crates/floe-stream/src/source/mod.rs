//! [`StreamingExpertSource`]: the [`ExpertSource`] that schedules reads on an engine, caches
//! blobs in RAM and prefetches hinted ones in idle queue slots.

mod blob;
mod gate;
mod layout;
mod state;
#[cfg(test)]
mod tests;

use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use floe_format::{Checkpoint, ExpertSource, FormatError};

use self::blob::Blob;
use self::layout::Layout;
use self::state::{key_of, Lookup, State};
use crate::buffer::BufferPool;
use crate::cache::{BlobKey, ExpertCache, PolicyKind};
use crate::catalog::{BlobCatalog, CatalogLayer};
use crate::engine::{BlobData, CompletionSink, ReadEngine};
use crate::stats::StreamStats;
use crate::{StreamConfig, StreamError};

/// Streams expert blobs from a checkpoint's files: demand reads of a fetch's misses go out as one
/// batch and each blob is handed to the model as soon as it has arrived and passed its checksum;
/// hinted blobs are read ahead only in queue slots no demand read wants; a RAM cache (if
/// configured) keeps blobs by policy within a byte budget. A drop-in for
/// [`floe_format::PreadExpertSource`].
pub struct StreamingExpertSource {
    shared: Arc<Shared>,
}

struct Shared {
    catalog: Arc<dyn BlobCatalog>,
    layout: Layout,
    engine: Arc<dyn ReadEngine>,
    sink: Arc<dyn CompletionSink>,
    state: Mutex<State>,
    config: StreamConfig,
    verify: bool,
    top_k: u32,
}

/// Routes engine completions back into the source without keeping it alive.
struct Sink {
    shared: Weak<Shared>,
}

impl CompletionSink for Sink {
    fn complete(&self, tag: u64, result: std::io::Result<BlobData>) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let requests = {
            let mut state = shared.lock();
            state.complete(key_of(tag), result, &shared.layout);
            state.dispatch(&shared.layout)
        };
        shared.engine.submit(requests, &shared.sink);
    }
}

impl StreamingExpertSource {
    /// A source over `checkpoint` configured by `config` (the engine is built from
    /// `config.engine`). Fails with a message naming the setting or file if the configuration
    /// cannot work (e.g. a cache budget below one layer's top-k blobs) or a data file cannot be
    /// opened in the requested I/O mode.
    pub fn new(checkpoint: Arc<Checkpoint>, config: StreamConfig) -> Result<Self, StreamError> {
        Self::with_catalog(checkpoint, config)
    }

    /// A source over any [`BlobCatalog`].
    pub fn with_catalog(
        catalog: Arc<dyn BlobCatalog>,
        config: StreamConfig,
    ) -> Result<Self, StreamError> {
        let (top_k, max_blob) = Self::check(&*catalog, &config)?;
        let pool_bytes = config.buffer_pool_bytes.unwrap_or(
            2 * config.engine.parallelism() as u64
                * crate::buffer::aligned_len(max_blob as usize) as u64,
        );
        let pool = BufferPool::new(pool_bytes as usize);
        let engine = config.engine.build(pool)?;
        Self::build(catalog, config, engine, top_k)
    }

    /// A source reading through a caller-supplied engine (e.g. a
    /// [`FaultyEngine`](crate::engine::FaultyEngine)); `config.engine` is ignored.
    pub fn with_engine(
        catalog: Arc<dyn BlobCatalog>,
        config: StreamConfig,
        engine: Arc<dyn ReadEngine>,
    ) -> Result<Self, StreamError> {
        let (top_k, _) = Self::check(&*catalog, &config)?;
        Self::build(catalog, config, engine, top_k)
    }

    fn check(catalog: &dyn BlobCatalog, config: &StreamConfig) -> Result<(u32, u64), StreamError> {
        let layers = catalog.layers();
        let max_blob = layers.iter().map(|l| l.blob_length).max().unwrap_or(0);
        let top_k = catalog.experts_per_token().unwrap_or(1);
        config.validate(top_k, max_blob)?;
        Ok((top_k, max_blob))
    }

    fn build(
        catalog: Arc<dyn BlobCatalog>,
        config: StreamConfig,
        engine: Arc<dyn ReadEngine>,
        top_k: u32,
    ) -> Result<Self, StreamError> {
        let layout = Layout::build(&*catalog, config.io_mode)?;
        let depth = engine.depth().max(1);
        let capacity_blobs = config.cache_budget / layout.max_blob.max(1);
        let cache = ExpertCache::new(config.cache_budget, config.policy.build(capacity_blobs));
        let limits = state::Limits {
            depth,
            prefetch_min_accuracy: config.prefetch_min_accuracy,
            prefetch_cap: config.prefetch_cap(depth),
            hint_lifetime: config.hint_lifetime,
            prefetch: config.prefetch,
            verify: config.verify_checksums,
        };
        let state = Mutex::new(State::new(cache, limits, &layout));
        let verify = config.verify_checksums;
        let shared = Arc::new_cyclic(|weak: &Weak<Shared>| Shared {
            catalog,
            layout,
            engine,
            sink: Arc::new(Sink {
                shared: weak.clone(),
            }),
            state,
            config,
            verify,
            top_k,
        });
        Ok(Self { shared })
    }

    /// A snapshot of the statistics since creation or the last [`reset_stats`](Self::reset_stats).
    pub fn stats(&self) -> StreamStats {
        self.shared.lock().snapshot()
    }

    /// Zeroes the statistics (the cache keeps its contents).
    pub fn reset_stats(&self) {
        let shared = &self.shared;
        shared.lock().reset_stats(&shared.layout);
    }

    /// Empties the RAM cache and drops prefetched blobs (e.g. between benchmark runs).
    pub fn clear_cache(&self) {
        self.shared.lock().clear();
    }

    /// The engine's description (e.g. `io_uring qd8`; shows a fallback to `pread`).
    pub fn engine_name(&self) -> String {
        self.shared.engine.name()
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &StreamConfig {
        &self.shared.config
    }

    /// The MoE layers it streams, in layer order.
    pub fn layers(&self) -> &[CatalogLayer] {
        &self.shared.layout.layers
    }

    /// The model's experts per token (1 if the checkpoint does not say).
    pub fn top_k(&self) -> u32 {
        self.shared.top_k
    }

    /// The cache policy in use.
    pub fn policy(&self) -> PolicyKind {
        self.shared.config.policy
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Verifies a blob (once per read), caches it, and returns the model's view of it.
    fn accept(&self, key: BlobKey, blob: &Arc<Blob>) -> Result<Bytes, FormatError> {
        if self.verify {
            let started = Instant::now();
            let mut failure = None;
            let (ran, ok) = blob.verify_once(|bytes| {
                match self.catalog.verify_blob(key.layer, key.expert, bytes) {
                    Ok(()) => true,
                    Err(err) => {
                        failure = Some(err);
                        false
                    }
                }
            });
            if ran {
                self.lock().record_verify(started.elapsed(), !ok);
            }
            if !ok {
                return Err(match failure {
                    Some(err) => err,
                    None => self
                        .catalog
                        .verify_blob(key.layer, key.expert, blob.data())
                        .err()
                        .unwrap_or_else(|| {
                            FormatError::NotFound(format!(
                                "expert {} of layer {} failed its checksum",
                                key.expert, key.layer
                            ))
                        }),
                });
            }
        }
        self.lock().admit(key, blob);
        Ok(blob.bytes())
    }

    fn read_error(&self, key: BlobKey, kind: std::io::ErrorKind, message: String) -> FormatError {
        let path = self
            .layout
            .place(key)
            .map(|place| self.layout.path(place).to_path_buf())
            .unwrap_or_else(|_| self.catalog.describe());
        FormatError::ExpertRead {
            path,
            layer: key.layer,
            expert: key.expert,
            source: std::io::Error::new(kind, message),
        }
    }
}

impl ExpertSource for StreamingExpertSource {
    fn fetch(
        &self,
        layer: u32,
        experts: &[u32],
        on_ready: &mut dyn FnMut(usize, Bytes) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        let started = Instant::now();
        let shared = &self.shared;
        let position = shared.layout.position(layer)?;
        for &expert in experts {
            shared.layout.place(BlobKey { layer, expert })?;
        }
        let (tx, rx) = channel();
        let mut ready = Vec::new();
        let mut pending = 0usize;
        let requests = {
            let mut state = shared.lock();
            state.begin_fetch(layer);
            for (index, &expert) in experts.iter().enumerate() {
                match state.lookup(BlobKey { layer, expert }, position, index, &tx) {
                    Lookup::Ready(blob) => ready.push((index, blob)),
                    Lookup::Pending => pending += 1,
                }
            }
            state.end_lookups(layer);
            state.dispatch(&shared.layout)
        };
        drop(tx);
        shared.engine.submit(requests, &shared.sink);
        let mut stall = Duration::ZERO;
        let result = (|| {
            for (index, blob) in ready {
                let bytes = shared.accept(
                    BlobKey {
                        layer,
                        expert: experts[index],
                    },
                    &blob,
                )?;
                drop(blob);
                on_ready(index, bytes)?;
            }
            for _ in 0..pending {
                let waited = Instant::now();
                let delivery = rx.recv().map_err(|_| {
                    FormatError::NotFound(format!(
                        "layer {layer}: the I/O engine dropped a read without completing it"
                    ))
                })?;
                stall += waited.elapsed();
                let key = BlobKey {
                    layer,
                    expert: experts[delivery.index],
                };
                let blob = delivery
                    .result
                    .map_err(|f| shared.read_error(key, f.kind, f.message))?;
                let bytes = shared.accept(key, &blob)?;
                drop(blob);
                on_ready(delivery.index, bytes)?;
            }
            Ok(())
        })();
        shared.lock().record_fetch(stall, started.elapsed());
        result
    }

    fn wants_hints(&self) -> bool {
        self.shared.config.prefetch
    }

    fn hint(&self, layer: u32, experts: &[u32]) {
        let shared = &self.shared;
        if !shared.config.prefetch || shared.layout.position(layer).is_err() {
            return;
        }
        let valid = experts
            .iter()
            .copied()
            .filter(|&expert| shared.layout.place(BlobKey { layer, expert }).is_ok());
        let requests = {
            let mut state = shared.lock();
            state.hint(layer, valid);
            state.dispatch(&shared.layout)
        };
        shared.engine.submit(requests, &shared.sink);
    }
}
