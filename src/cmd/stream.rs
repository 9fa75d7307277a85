//! The expert-streaming flags shared by `floe run`, `floe logits`, `floe demo` and `floe bench`:
//! they configure the [`StreamingExpertSource`] the model reads its routed experts through.

use std::sync::Arc;

use anyhow::Context;
use floe_format::Checkpoint;
use floe_stream::cache::PolicyKind;
use floe_stream::engine::{EngineKind, IoMode};
use floe_stream::size::{format_size, parse_size};
use floe_stream::{StreamConfig, StreamStats, StreamingExpertSource};

/// Default read parallelism (pread / mmap threads, io_uring queue depth).
const DEFAULT_PARALLELISM: usize = 8;

/// The cache budget when `--cache-budget` is not given: this fraction of physical RAM.
const DEFAULT_BUDGET_FRACTION: u64 = 4;

/// The cache budget when physical RAM cannot be read.
const FALLBACK_BUDGET: u64 = 1 << 30;

/// How routed experts are read.
#[derive(clap::Args, Clone, Debug)]
pub struct StreamArgs {
    /// RAM for the expert cache (e.g. 4GiB, 512MiB); default a quarter of physical RAM. Must
    /// hold one layer's top-k experts unless --cache-policy none.
    #[arg(long, value_name = "SIZE")]
    pub cache_budget: Option<String>,
    /// Expert cache eviction policy: lfu (LFU with aging, the measured best: docs/streaming.md),
    /// lru, or none (rely on the page cache).
    #[arg(long, default_value = "lfu")]
    pub cache_policy: String,
    /// Read engine: pread (thread pool), uring (io_uring), mmap (baseline), or plain (one
    /// buffered pread per blob, no scheduler, cache or prefetch).
    #[arg(long, default_value = "pread")]
    pub io_engine: String,
    /// Read with O_DIRECT, bypassing the page cache (the default).
    #[arg(long, overrides_with = "buffered")]
    pub direct: bool,
    /// Read through the page cache instead of O_DIRECT.
    #[arg(long, overrides_with = "direct")]
    pub buffered: bool,
    /// Threads of the pread / mmap engines.
    #[arg(long, default_value_t = DEFAULT_PARALLELISM)]
    pub io_threads: usize,
    /// Queue depth of the io_uring engine.
    #[arg(long, default_value_t = DEFAULT_PARALLELISM)]
    pub queue_depth: usize,
    /// Skip verifying expert blob checksums.
    #[arg(long)]
    pub no_verify: bool,
    /// Act on the model's prefetch hints (the default).
    #[arg(long, overrides_with = "no_prefetch")]
    pub prefetch: bool,
    /// Ignore the model's prefetch hints.
    #[arg(long, overrides_with = "prefetch")]
    pub no_prefetch: bool,
}

impl Default for StreamArgs {
    fn default() -> Self {
        Self {
            cache_budget: None,
            cache_policy: "lfu".into(),
            io_engine: "pread".into(),
            direct: false,
            buffered: false,
            io_threads: DEFAULT_PARALLELISM,
            queue_depth: DEFAULT_PARALLELISM,
            no_verify: false,
            prefetch: false,
            no_prefetch: false,
        }
    }
}

impl StreamArgs {
    /// The cache budget in bytes: `--cache-budget`, or the default.
    pub fn budget(&self) -> anyhow::Result<u64> {
        match &self.cache_budget {
            Some(text) => parse_size(text).map_err(|e| anyhow::anyhow!("--cache-budget: {e}")),
            None => Ok(physical_ram()
                .map(|ram| ram / DEFAULT_BUDGET_FRACTION)
                .unwrap_or(FALLBACK_BUDGET)),
        }
    }

    /// The streaming configuration these flags describe (`None` for `--io-engine plain`).
    pub fn config(&self) -> anyhow::Result<Option<StreamConfig>> {
        let parallelism = match self.io_engine.as_str() {
            "plain" => return Ok(None),
            "uring" | "io_uring" => self.queue_depth,
            _ => self.io_threads,
        };
        let engine = EngineKind::parse(&self.io_engine, parallelism)
            .map_err(|e| anyhow::anyhow!("--io-engine: {e} (or plain)"))?;
        let policy = PolicyKind::parse(&self.cache_policy)
            .map_err(|e| anyhow::anyhow!("--cache-policy: {e}"))?;
        Ok(Some(StreamConfig {
            engine,
            io_mode: if self.buffered {
                IoMode::Buffered
            } else {
                IoMode::Direct
            },
            cache_budget: if policy == PolicyKind::None {
                0
            } else {
                self.budget()?
            },
            policy,
            verify_checksums: !self.no_verify,
            prefetch: !self.no_prefetch,
            ..StreamConfig::default()
        }))
    }

    /// The streaming source over `checkpoint` (`None` for `--io-engine plain`). A configuration
    /// that cannot work (e.g. a cache budget below one layer's top-k experts) is an error saying
    /// what would.
    pub fn source(
        &self,
        checkpoint: &Arc<Checkpoint>,
    ) -> anyhow::Result<Option<Arc<StreamingExpertSource>>> {
        let Some(config) = self.config()? else {
            return Ok(None);
        };
        let source = StreamingExpertSource::new(checkpoint.clone(), config)
            .context("cannot set up expert streaming (see --cache-budget, --cache-policy, --io-engine, --buffered)")?;
        Ok(Some(Arc::new(source)))
    }
}

/// Physical RAM in bytes (`MemTotal` of `/proc/meminfo`), if it can be read.
pub fn physical_ram() -> Option<u64> {
    meminfo_field("/proc/meminfo", "MemTotal:")
}

/// The process's peak resident set (`VmHWM` of `/proc/self/status`) in bytes, if it can be read.
pub fn peak_rss() -> Option<u64> {
    meminfo_field("/proc/self/status", "VmHWM:")
}

/// A `NAME: N kB` field of a `/proc` file, in bytes.
fn meminfo_field(path: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Prints the streaming statistics of `source` to stderr (after `--stats`' other lines).
pub fn print_stats(source: &StreamingExpertSource) {
    let stats = source.stats();
    let config = source.config();
    eprintln!(
        "expert streaming: {} ({}), cache {} {}, checksums {}, prefetch {}",
        source.engine_name(),
        config.io_mode.name(),
        config.policy.name(),
        format_size(config.cache_budget),
        if config.verify_checksums { "on" } else { "off" },
        if config.prefetch { "on" } else { "off" },
    );
    eprintln!("stream: {stats}");
    eprintln!("stream: {}", layer_summary(&stats));
}

/// Min / median / max hit rate over the MoE layers, and the layers at the extremes.
pub fn layer_summary(stats: &StreamStats) -> String {
    let mut rates: Vec<(f64, u32)> = stats
        .per_layer
        .iter()
        .filter(|l| l.requests > 0)
        .map(|l| (l.hit_rate(), l.layer))
        .collect();
    if rates.is_empty() {
        return "hit rate per layer: no requests".into();
    }
    rates.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (min, max) = (rates[0], rates[rates.len() - 1]);
    let median = rates[rates.len() / 2].0;
    format!(
        "hit rate per layer ({} layers): min {:.1}% (layer {}), median {:.1}%, max {:.1}% (layer {}); prefetch accuracy {:.1}%",
        rates.len(),
        100.0 * min.0,
        min.1,
        100.0 * median,
        100.0 * max.0,
        max.1,
        100.0 * stats.prefetch_accuracy(),
    )
}
