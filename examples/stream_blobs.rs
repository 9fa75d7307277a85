//! Streams the expert blobs of a floe checkpoint through `floe_stream::StreamingExpertSource`,
//! with no model code, and prints what each configuration achieves: GB/s, hit rate, stall time,
//! bytes per token.
//!
//! ```text
//! cargo run --release --example stream_blobs -- --checkpoint /tmp/q30-l12 \
//!     --engines io_uring,pread --io direct,buffered --qd 4,8,16 --threads 4,8 \
//!     --routing random --tokens 64
//! ```
//!
//! Every combination of `--engines` × `--io` × parallelism (`--threads` for pread/mmap, `--qd`
//! for io_uring) × `--policy` runs the same routing. `--routing random` is uniform top-k routing
//! (what a random-weight model does); `--routing synthetic` generates a trace with research.md's
//! locality; `--routing trace:FILE` replays a recorded or `floe synth-trace` file.
//! `--drop-caches` empties the page cache before every run (root only), so buffered runs start
//! cold too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use floe_format::{Checkpoint, OpenOptions};
use floe_stream::cache::PolicyKind;
use floe_stream::engine::{EngineKind, IoMode};
use floe_stream::replay::{replay, HintMode, ReplayOptions, ReplayReport};
use floe_stream::size::parse_size;
use floe_stream::trace::{SyntheticTrace, TokenRouting, TraceReader, TraceSpec, UniformRouting};
use floe_stream::{StreamConfig, StreamError, StreamingExpertSource};

/// Benchmark expert streaming on a floe checkpoint.
#[derive(Parser)]
struct Args {
    /// The checkpoint directory (e.g. written by `floe synth`).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Engines to compare: pread, io_uring, mmap.
    #[arg(long, value_delimiter = ',', default_value = "io_uring,pread")]
    engines: Vec<String>,
    /// I/O modes to compare: direct, buffered.
    #[arg(long, value_delimiter = ',', default_value = "direct")]
    io: Vec<String>,
    /// Thread counts for pread and mmap.
    #[arg(long, value_delimiter = ',', default_value = "8")]
    threads: Vec<usize>,
    /// Queue depths for io_uring.
    #[arg(long, value_delimiter = ',', default_value = "8")]
    qd: Vec<usize>,
    /// Cache policies to compare: none, lru, lfu-aging.
    #[arg(long, value_delimiter = ',', default_value = "none")]
    policy: Vec<String>,
    /// RAM cache budget for lru / lfu-aging (e.g. 2GiB).
    #[arg(long, default_value = "0")]
    cache_budget: String,
    /// Routing: random, synthetic, or trace:FILE.
    #[arg(long, default_value = "random")]
    routing: String,
    /// Tokens measured per run.
    #[arg(long, default_value_t = 64)]
    tokens: usize,
    /// Tokens replayed before measuring (cache warm-up).
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// Hint the next layer with a predictor of this accuracy (0 = no hints).
    #[arg(long, default_value_t = 0.0)]
    hint_accuracy: f64,
    /// Simulated compute per delivered blob, in microseconds.
    #[arg(long, default_value_t = 0)]
    compute_us: u64,
    /// Skip checksum verification.
    #[arg(long)]
    no_verify: bool,
    /// Drop the page cache before every run (needs root).
    #[arg(long)]
    drop_caches: bool,
    /// Seed of the routing.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let checkpoint = Arc::new(
        Checkpoint::open_with(
            &args.checkpoint,
            OpenOptions {
                verify_checksums: !args.no_verify,
            },
        )
        .with_context(|| format!("opening {}", args.checkpoint.display()))?,
    );
    let moe = &checkpoint.manifest().expert_layers;
    let experts: Vec<u32> = moe.iter().map(|l| l.blobs.len() as u32).collect();
    let top_k = floe_stream::catalog::experts_per_token(checkpoint.text_config()).unwrap_or(1);
    let blob = moe.iter().map(|l| l.blob_length).max().unwrap_or(0);
    println!(
        "# {}: {} MoE layers × {} experts of {:.2} MB, top-{top_k}: {:.1} MB per token at 0% hits",
        args.checkpoint.display(),
        experts.len(),
        experts.iter().max().unwrap_or(&0),
        blob as f64 / 1e6,
        blob as f64 * f64::from(top_k) * experts.len() as f64 / 1e6
    );
    println!(
        "{:<14} {:<8} {:<9} {:>6} {:>7} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8} {:>9}",
        "engine",
        "io",
        "policy",
        "tokens",
        "hit%",
        "GB read",
        "GB/s busy",
        "GB/s wall",
        "stall ms",
        "MB/token",
        "prefetch",
        "cpu s/GB"
    );
    let budget = parse_size(&args.cache_budget)?;
    for policy in &args.policy {
        let policy = PolicyKind::parse(policy)?;
        for io in &args.io {
            let io_mode = IoMode::parse(io)?;
            for engine in &args.engines {
                let parallelism = if engine == "io_uring" || engine == "uring" {
                    &args.qd
                } else {
                    &args.threads
                };
                for &n in parallelism {
                    let config = StreamConfig {
                        engine: EngineKind::parse(engine, n)?,
                        io_mode,
                        cache_budget: if policy == PolicyKind::None {
                            0
                        } else {
                            budget
                        },
                        policy,
                        verify_checksums: !args.no_verify,
                        prefetch: args.hint_accuracy > 0.0,
                        ..StreamConfig::default()
                    };
                    if args.drop_caches {
                        drop_page_cache()?;
                    }
                    let source = StreamingExpertSource::new(Arc::clone(&checkpoint), config)?;
                    let cpu_before = cpu_seconds();
                    let report = run(&source, &args, &experts, top_k)?;
                    let cpu = cpu_seconds() - cpu_before;
                    print_row(&source, &report, cpu);
                }
            }
        }
    }
    Ok(())
}

fn run(
    source: &StreamingExpertSource,
    args: &Args,
    experts: &[u32],
    top_k: u32,
) -> anyhow::Result<ReplayReport> {
    let total = args.warmup + args.tokens;
    let options = ReplayOptions {
        hint: if args.hint_accuracy > 0.0 {
            HintMode::Predictor {
                accuracy: args.hint_accuracy,
            }
        } else {
            HintMode::Off
        },
        compute_per_blob: Duration::from_micros(args.compute_us),
        warmup_tokens: args.warmup,
        seed: args.seed,
    };
    let routing: Box<dyn Iterator<Item = Result<TokenRouting, StreamError>>> =
        match args.routing.as_str() {
            "random" => Box::new(
                UniformRouting::new(experts.to_vec(), top_k, args.seed)
                    .take(total)
                    .map(Ok),
            ),
            "synthetic" => {
                let max = experts.iter().copied().max().unwrap_or(1);
                let mut spec = TraceSpec::new(experts.len() as u32, max, top_k);
                spec.seed = args.seed;
                Box::new(SyntheticTrace::new(spec)?.take(total).map(Ok))
            }
            other => match other.strip_prefix("trace:") {
                Some(path) => Box::new(TraceReader::open(Path::new(path))?.take(total)),
                None => bail!("--routing {other}: expected random, synthetic or trace:FILE"),
            },
        };
    Ok(replay(source, routing, &options)?)
}

fn print_row(source: &StreamingExpertSource, report: &ReplayReport, cpu: f64) {
    let s = &report.stats;
    let prefetch = if s.prefetch_issued > 0 {
        format!("{:.0}%", 100.0 * s.prefetch_accuracy())
    } else {
        "-".into()
    };
    println!(
        "{:<14} {:<8} {:<9} {:>6} {:>6.1}% {:>9.2} {:>9.2} {:>9.2} {:>9.1} {:>10.1} {:>8} {:>9.3}",
        source.engine_name(),
        if source.engine_name().starts_with("mmap") {
            "mmap"
        } else {
            source.config().io_mode.name()
        },
        source.policy().name(),
        report.tokens,
        100.0 * s.hit_rate(),
        s.bytes_read as f64 / 1e9,
        s.read_gbps(),
        report.wall_gbps(),
        s.stall.as_secs_f64() * 1e3,
        report.bytes_per_token() / 1e6,
        prefetch,
        cpu / (s.bytes_read as f64 / 1e9).max(1e-9),
    );
}

/// User plus system CPU time of this process so far, in seconds (Linux `/proc/self/stat`; 0
/// elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn drop_page_cache() -> anyhow::Result<()> {
    std::process::Command::new("sync")
        .status()
        .context("running sync")?;
    std::fs::write("/proc/sys/vm/drop_caches", "3")
        .context("--drop-caches needs root (writing /proc/sys/vm/drop_caches)")
}
