//! The settings of a [`StreamingExpertSource`](crate::StreamingExpertSource).

use crate::cache::PolicyKind;
use crate::engine::{EngineKind, IoMode};
use crate::size::format_size;
use crate::StreamError;

/// How a [`StreamingExpertSource`](crate::StreamingExpertSource) reads, caches and prefetches.
/// The defaults are the measured best on the development machine (see `docs/streaming.md`).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamConfig {
    /// The read engine and its parallelism (default `pread` with 8 threads).
    pub engine: EngineKind,
    /// `O_DIRECT` or page-cache reads (default direct).
    pub io_mode: IoMode,
    /// Bytes of RAM for the expert cache (default 0). Must hold at least one layer's top-k
    /// blobs unless `policy` is [`PolicyKind::None`].
    pub cache_budget: u64,
    /// The cache's eviction policy (default [`PolicyKind::None`]).
    pub policy: PolicyKind,
    /// Verify every blob read from disk against its checksum (default true; the checkpoint's own
    /// setting can also turn it off).
    pub verify_checksums: bool,
    /// Act on [`ExpertSource::hint`](floe_format::ExpertSource::hint) (default true).
    pub prefetch: bool,
    /// At most this many prefetch reads in flight (default: half the engine's depth, at least
    /// one), so a demand read always finds free slots.
    pub max_prefetch_in_flight: Option<usize>,
    /// Stop acting on hints while the moving average of prefetch outcomes (used = 1, dropped
    /// unused = 0) is below this (default 0.5; 0 always prefetches). One hint in eight is still
    /// acted on to keep measuring. Wrong prefetches cost demand reads bandwidth.
    pub prefetch_min_accuracy: f64,
    /// A hint stays valid for this many fetches after it was given (default 2: a hint for the
    /// next layer survives until that layer's fetch, and one more); queued prefetches of a layer
    /// are also dropped as soon as that layer is fetched or hinted again.
    pub hint_lifetime: u64,
    /// Idle read buffers kept for reuse, in bytes (default: twice the engine depth, times the
    /// largest blob).
    pub buffer_pool_bytes: Option<u64>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            engine: EngineKind::Pread { threads: 8 },
            io_mode: IoMode::Direct,
            cache_budget: 0,
            policy: PolicyKind::None,
            verify_checksums: true,
            prefetch: true,
            max_prefetch_in_flight: None,
            prefetch_min_accuracy: 0.5,
            hint_lifetime: 2,
            buffer_pool_bytes: None,
        }
    }
}

impl StreamConfig {
    /// Checks the settings against a checkpoint whose MoE layers route `top_k` experts per token
    /// and whose largest blob is `max_blob` bytes. The error says which setting is wrong and what
    /// would work.
    pub fn validate(&self, top_k: u32, max_blob: u64) -> Result<(), StreamError> {
        let parallelism = self.engine.parallelism();
        if parallelism == 0 {
            return Err(StreamError::Config(
                "the engine needs at least one thread / queue slot (got 0)".into(),
            ));
        }
        if let EngineKind::IoUring { queue_depth } = self.engine {
            if queue_depth > 4096 {
                return Err(StreamError::Config(format!(
                    "io_uring queue depth {queue_depth} is too large (at most 4096)"
                )));
            }
        }
        if self.policy != PolicyKind::None {
            let minimum = u64::from(top_k.max(1)) * max_blob;
            if self.cache_budget < minimum {
                return Err(StreamError::Config(format!(
                    "cache budget {} is smaller than one layer's {} experts of {} each; the minimum is {} ({minimum} bytes), or use cache policy 'none'",
                    format_size(self.cache_budget),
                    top_k.max(1),
                    format_size(max_blob),
                    format_size(minimum),
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.prefetch_min_accuracy) {
            return Err(StreamError::Config(format!(
                "prefetch_min_accuracy {} must be between 0 and 1",
                self.prefetch_min_accuracy
            )));
        }
        if self.max_prefetch_in_flight == Some(0) && self.prefetch {
            return Err(StreamError::Config(
                "max_prefetch_in_flight is 0 with prefetch on; turn prefetch off instead".into(),
            ));
        }
        Ok(())
    }

    /// The prefetch cap for an engine of `depth`.
    pub(crate) fn prefetch_cap(&self, depth: usize) -> usize {
        self.max_prefetch_in_flight
            .unwrap_or(depth / 2)
            .clamp(1, depth.max(1))
    }
}
