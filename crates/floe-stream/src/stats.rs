//! What a streaming source did: requests, hits, reads, bytes, prefetch, time.

use std::fmt;
use std::time::Duration;

/// Counters of one MoE layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Decoder layer index.
    pub layer: u32,
    /// Blobs asked for.
    pub requests: u64,
    /// Served from the RAM cache.
    pub hits: u64,
    /// Served by a prefetch read (already read or in flight when asked for).
    pub prefetch_hits: u64,
    /// Needed a demand read (issued for it, or joined one already in flight).
    pub misses: u64,
}

impl LayerStats {
    /// RAM-cache hits over requests (0 when nothing was asked).
    pub fn hit_rate(&self) -> f64 {
        ratio(self.hits, self.requests)
    }
}

/// A snapshot of a source's statistics since it was created or last reset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamStats {
    /// `fetch` calls.
    pub fetches: u64,
    /// Blobs asked for (sum over fetches).
    pub requests: u64,
    /// Served from the RAM cache.
    pub hits: u64,
    /// Served by a prefetch read.
    pub prefetch_hits: u64,
    /// Needed a demand read.
    pub misses: u64,
    /// Reads issued to the engine (demand and prefetch).
    pub reads_issued: u64,
    /// Bytes of those reads.
    pub bytes_read: u64,
    /// Demand reads issued.
    pub demand_reads: u64,
    /// Prefetch reads issued.
    pub prefetch_issued: u64,
    /// Prefetch reads whose blob was then asked for.
    pub prefetch_used: u64,
    /// Prefetch reads whose blob went unused (stale when it arrived or dropped unused).
    pub prefetch_wasted: u64,
    /// Hinted blobs dropped before being read (superseded or stale).
    pub prefetch_dropped: u64,
    /// Hints ignored because recent prefetches were mostly unused (see
    /// [`StreamConfig::prefetch_min_accuracy`](crate::StreamConfig::prefetch_min_accuracy)).
    pub prefetch_suppressed: u64,
    /// The prefetch gate's moving average of recent prefetch outcomes (1: all used), now.
    pub prefetch_score: f64,
    /// Reads that failed (I/O errors, short reads).
    pub read_errors: u64,
    /// Blobs that failed their checksum.
    pub checksum_failures: u64,
    /// Blobs evicted from the cache.
    pub evictions: u64,
    /// Blobs in the cache now.
    pub cached_blobs: u64,
    /// Bytes in the cache now.
    pub cached_bytes: u64,
    /// Wall time with at least one read in flight.
    pub io_busy: Duration,
    /// Time `fetch` spent blocked waiting for reads (the model stalled on I/O).
    pub stall: Duration,
    /// Time spent inside `fetch` (waiting, verifying, and the `on_ready` callbacks).
    pub fetch_time: Duration,
    /// Time spent verifying checksums.
    pub verify_time: Duration,
    /// Wall time covered by this snapshot.
    pub elapsed: Duration,
    /// Per MoE layer, in layer order.
    pub per_layer: Vec<LayerStats>,
}

impl StreamStats {
    /// RAM-cache hits over requests.
    pub fn hit_rate(&self) -> f64 {
        ratio(self.hits, self.requests)
    }

    /// Requests that needed no demand read (cache or prefetch) over requests.
    pub fn served_without_demand_read(&self) -> f64 {
        ratio(self.hits + self.prefetch_hits, self.requests)
    }

    /// Prefetch reads used over prefetch reads issued.
    pub fn prefetch_accuracy(&self) -> f64 {
        ratio(self.prefetch_used, self.prefetch_issued)
    }

    /// Bytes read per second of I/O-busy time, in GB/s (10⁹ bytes): the disk throughput achieved
    /// while reads were outstanding.
    pub fn read_gbps(&self) -> f64 {
        gbps(self.bytes_read, self.io_busy)
    }

    /// Bytes read per second of elapsed time, in GB/s.
    pub fn wall_gbps(&self) -> f64 {
        gbps(self.bytes_read, self.elapsed)
    }
}

impl fmt::Display for StreamStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} fetches, {} blobs: hit rate {:.1}% (+{:.1}% by prefetch), {} reads, {:.2} GB read at {:.2} GB/s (busy) / {:.2} GB/s (wall), stalled {:.1} ms, prefetch {} issued, {:.1}% used",
            self.fetches,
            self.requests,
            100.0 * self.hit_rate(),
            100.0 * ratio(self.prefetch_hits, self.requests),
            self.reads_issued,
            self.bytes_read as f64 / 1e9,
            self.read_gbps(),
            self.wall_gbps(),
            self.stall.as_secs_f64() * 1e3,
            self.prefetch_issued,
            100.0 * self.prefetch_accuracy(),
        )
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn gbps(bytes: u64, time: Duration) -> f64 {
    let seconds = time.as_secs_f64();
    if seconds == 0.0 {
        0.0
    } else {
        bytes as f64 / seconds / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_handle_zero_and_compute_ratios() {
        let empty = StreamStats::default();
        assert_eq!(empty.hit_rate(), 0.0);
        assert_eq!(empty.read_gbps(), 0.0);
        let stats = StreamStats {
            requests: 10,
            hits: 4,
            prefetch_hits: 1,
            prefetch_issued: 4,
            prefetch_used: 1,
            bytes_read: 2_000_000_000,
            io_busy: Duration::from_secs(1),
            elapsed: Duration::from_secs(2),
            ..StreamStats::default()
        };
        assert_eq!(stats.hit_rate(), 0.4);
        assert_eq!(stats.served_without_demand_read(), 0.5);
        assert_eq!(stats.prefetch_accuracy(), 0.25);
        assert_eq!(stats.read_gbps(), 2.0);
        assert_eq!(stats.wall_gbps(), 1.0);
        assert!(stats.to_string().contains("hit rate 40.0%"));
    }
}
