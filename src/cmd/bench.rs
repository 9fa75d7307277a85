//! `floe bench`: prefill and decode throughput on random prompt ids (no tokenizer needed), with
//! the expert-streaming statistics; `--json` prints one object for scripts
//! (`cargo xtask stream-bench`).
//!
//! `expert_bytes_delivered_per_token` is the expert bytes one decode token uses: with streamed
//! experts, the blob bytes the source delivered per token; with `--resident-experts`, where
//! nothing is fetched, the bytes of `k` expert blobs of every sparse layer from the checkpoint's
//! layout (`k` the experts per token). `gpu_expert_cache` holds the backend's expert cache
//! counters (`null` when the backend has none).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use floe_compute::Backend;
use floe_format::{Checkpoint, ExpertSource};
use floe_model::{LogitsWanted, Timings};
use serde_json::json;

use super::run::{
    gpu_expert_cache_json, gpu_expert_cache_line, load_with_source, with_backend, BackendArgs,
    BackendJob, LoadArgs,
};
use super::stream::{layer_summary, peak_rss};
use super::trace_routing::TraceRouting;

/// Arguments of `floe bench`.
#[derive(clap::Args)]
pub struct Args {
    /// The floe checkpoint directory.
    pub model: PathBuf,
    /// Random prompt tokens processed before decoding.
    #[arg(long, default_value_t = 16)]
    pub prompt_tokens: usize,
    /// Tokens to decode (random ids, one forward pass each).
    #[arg(long, default_value_t = 32)]
    pub tokens: usize,
    /// Replay this routing trace (JSON lines from `floe synth-trace`) during decode instead of
    /// the router's choice (the reads follow the trace; see `docs/streaming.md`). Not with
    /// --resident-experts, which reads nothing per token.
    #[arg(long, value_name = "TRACE", conflicts_with = "resident_experts")]
    pub routing: Option<PathBuf>,
    /// Only measure memory read bandwidth (best of three passes over a 1 GiB buffer; the model
    /// is not loaded) and print it, for the decode floor of `cargo xtask stream-bench`.
    #[arg(long)]
    pub memory_ceiling: bool,
    /// Seed of the random prompt.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Runs `floe bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.memory_ceiling {
        let gbps = memory_read_gbps();
        if args.json {
            println!("{}", json!({ "memory_read_gbps": gbps }));
        } else {
            println!("memory read bandwidth: {gbps:.2} GB/s");
        }
        return Ok(());
    }
    if args.prompt_tokens == 0 {
        bail!("--prompt-tokens must be at least 1");
    }
    let backend = args.backend.clone();
    with_backend(&backend, BenchJob { args })
}

struct BenchJob {
    args: Args,
}

impl BackendJob for BenchJob {
    type Output = ();

    fn run<B: Backend + 'static>(self, backend: Arc<B>) -> anyhow::Result<()> {
        let args = self.args;
        let backend_name = backend.name();
        let dir = &args.model;
        let trace: std::cell::RefCell<Option<Arc<TraceRouting>>> = Default::default();
        let wrap_error: std::cell::RefCell<Option<anyhow::Error>> = Default::default();
        let checkpoint_for_trace = match &args.routing {
            Some(_) => Some(
                Checkpoint::open(dir)
                    .with_context(|| format!("cannot open checkpoint {}", dir.display()))?,
            ),
            None => None,
        };
        let wrap = |inner: Arc<dyn ExpertSource>| -> Arc<dyn ExpertSource> {
            let (Some(path), Some(checkpoint)) = (&args.routing, &checkpoint_for_trace) else {
                return inner;
            };
            match TraceRouting::open(path, args.tokens, checkpoint, inner.clone()) {
                Ok(t) => {
                    let t = Arc::new(t);
                    *trace.borrow_mut() = Some(t.clone());
                    t
                }
                Err(e) => {
                    *wrap_error.borrow_mut() = Some(e);
                    inner
                }
            }
        };
        let loaded = load_with_source(
            dir,
            backend,
            &args.load.options(),
            &args.load.stream,
            Some(&wrap),
        )?;
        if let Some(e) = wrap_error.take() {
            return Err(e);
        }
        let trace = trace.take();
        let info = loaded.model.info().clone();
        let context = args.prompt_tokens + args.tokens + 1;
        if context > info.max_context {
            bail!(
                "--prompt-tokens + --tokens ({context}) exceed the model's context of {} tokens",
                info.max_context
            );
        }
        // Decode inputs are random ids too (not the model's choice): a random-weight model's
        // greedy output tends to repeat one token, which would make its routing repeat as well.
        let ids = random_ids(args.prompt_tokens + args.tokens, info.vocab_size, args.seed);
        let (prompt, decode_ids) = ids.split_at(args.prompt_tokens);
        let mut state = loaded.model.new_state(context)?;

        let started = Instant::now();
        let logits = loaded
            .model
            .forward(prompt, &mut state, LogitsWanted::Last)?;
        let prefill_time = started.elapsed();
        std::hint::black_box(logits.last());

        if let Some(stream) = &loaded.stream {
            stream.reset_stats();
        }
        if let Some(trace) = &trace {
            trace.activate();
        }
        let traffic0 = loaded.traffic.traffic();
        let timings0 = state.timings.clone();
        let started = Instant::now();
        for &id in decode_ids {
            let logits = loaded
                .model
                .forward(&[id], &mut state, LogitsWanted::Last)?;
            std::hint::black_box(logits.last());
        }
        let decode_time = started.elapsed();
        let timings = state.timings.since(&timings0);
        let delivered = loaded.traffic.traffic().since(&traffic0);
        let peak = peak_rss();

        let stats = loaded.stream.as_ref().map(|s| s.stats());
        let n = args.tokens.max(1) as f64;
        let tok_per_s = rate(args.tokens, decode_time);
        let prefill_tok_per_s = rate(args.prompt_tokens, prefill_time);
        let (bytes_read, read_gbps, wall_gbps, hit_rate, stall, prefetch_accuracy) = match &stats {
            Some(s) => (
                s.bytes_read,
                s.read_gbps(),
                s.wall_gbps(),
                s.hit_rate(),
                s.stall.as_secs_f64(),
                s.prefetch_accuracy(),
            ),
            // The plain source reads every delivered blob.
            None => (
                delivered.bytes,
                0.0,
                delivered.bytes as f64 / decode_time.as_secs_f64().max(1e-9) / 1e9,
                0.0,
                timings.expert_io.as_secs_f64(),
                0.0,
            ),
        };
        let dense = resident_bytes_per_token(&loaded.checkpoint);
        let resident = loaded.options.resident_experts;
        let delivered_per_token = if resident {
            loaded.resident_expert_bytes_per_token() as f64
        } else {
            delivered.bytes as f64 / n
        };
        let gpu_cache = loaded.backend.expert_cache_stats();
        let config = loaded.stream.as_ref().map(|s| s.config().clone());
        let report = json!({
            "model": dir.display().to_string(),
            "backend": backend_name,
            "engine": loaded.stream.as_ref().map(|s| s.engine_name()).unwrap_or_else(|| "plain".into()),
            "io_mode": config.as_ref().map(|c| c.io_mode.name()).unwrap_or("buffered"),
            "cache_policy": config.as_ref().map(|c| c.policy.name()).unwrap_or("none"),
            "cache_budget_bytes": config.as_ref().map(|c| c.cache_budget).unwrap_or(0),
            "prefetch": config.as_ref().map(|c| c.prefetch).unwrap_or(false),
            "resident_experts": resident,
            "routing": args.routing.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "model".into()),
            "prompt_tokens": args.prompt_tokens,
            "decode_tokens": args.tokens,
            "prefill_tok_per_s": prefill_tok_per_s,
            "tok_per_s": tok_per_s,
            "expert_bytes_read": bytes_read,
            "bytes_per_token": bytes_read as f64 / n,
            "expert_bytes_delivered_per_token": delivered_per_token,
            "dense_bytes_per_token": dense,
            "dense_bytes": loaded.checkpoint.manifest().dense.iter().map(|t| t.length).sum::<u64>(),
            "expert_read_gbps": read_gbps,
            "expert_wall_gbps": wall_gbps,
            "cache_hit_rate": hit_rate,
            "prefetch_accuracy": prefetch_accuracy,
            "stall_seconds": stall,
            "decode_seconds": decode_time.as_secs_f64(),
            "expert_compute_seconds": timings.expert_compute.as_secs_f64(),
            "attention_seconds": timings.attention.as_secs_f64(),
            "peak_rss_bytes": peak.unwrap_or(0),
            "gpu_expert_cache": gpu_cache.as_ref().map(gpu_expert_cache_json),
        });
        if args.json {
            println!("{report}");
        } else {
            print_text(&args, prefill_tok_per_s, tok_per_s, &timings, &report);
            if let Some(s) = &stats {
                println!("stream: {s}");
                println!("stream: {}", layer_summary(s));
            }
            if let Some(s) = &gpu_cache {
                println!("{}", gpu_expert_cache_line(s));
            }
        }
        Ok(())
    }
}

fn print_text(
    args: &Args,
    prefill_tok_per_s: f64,
    tok_per_s: f64,
    timings: &Timings,
    report: &serde_json::Value,
) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "prefill: {} tokens, {prefill_tok_per_s:.2} tok/s | decode: {} tokens, {tok_per_s:.2} tok/s",
        args.prompt_tokens, args.tokens
    );
    let phases: Vec<String> = timings
        .phases()
        .iter()
        .map(|(name, d)| format!("{name} {:.1} ms", ms(*d)))
        .collect();
    println!("decode phases: {}", phases.join(", "));
    if report["resident_experts"].as_bool() == Some(true) {
        println!(
            "experts: resident in backend memory, {:.2} MiB of experts per token, none read",
            report["expert_bytes_delivered_per_token"]
                .as_f64()
                .unwrap_or(0.0)
                / (1 << 20) as f64,
        );
        return;
    }
    println!(
        "expert reads: {:.2} MiB per token, {:.2} GB/s while reading, hit rate {:.1}%, stalled {:.3} s, peak RSS {:.1} MiB",
        report["bytes_per_token"].as_f64().unwrap_or(0.0) / (1 << 20) as f64,
        report["expert_read_gbps"].as_f64().unwrap_or(0.0),
        100.0 * report["cache_hit_rate"].as_f64().unwrap_or(0.0),
        report["stall_seconds"].as_f64().unwrap_or(0.0),
        report["peak_rss_bytes"].as_u64().unwrap_or(0) as f64 / (1 << 20) as f64,
    );
}

fn rate(tokens: usize, time: Duration) -> f64 {
    let secs = time.as_secs_f64();
    if tokens == 0 || secs == 0.0 {
        0.0
    } else {
        tokens as f64 / secs
    }
}

/// `count` ids below `vocab` from a small deterministic generator (splitmix64).
fn random_ids(count: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut x = seed;
    (0..count)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z % vocab.max(1) as u64) as u32
        })
        .collect()
}

/// Dense bytes one decode token reads: every dense tensor except the input embedding table, of
/// which it reads one row (the table still counts when it doubles as the LM head).
fn resident_bytes_per_token(checkpoint: &Checkpoint) -> u64 {
    let dense = &checkpoint.manifest().dense;
    let has_head = dense.iter().any(|t| t.name.contains("lm_head"));
    dense
        .iter()
        .filter(|t| !(has_head && t.name.contains("embed_tokens")))
        .map(|t| t.length)
        .sum()
}

/// Memory read bandwidth in GB/s: the best of three summing passes over a 1 GiB buffer.
fn memory_read_gbps() -> f64 {
    const WORDS: usize = (1 << 30) / 8;
    let buffer: Vec<u64> = (0..WORDS as u64).collect();
    let mut best = f64::MAX;
    let mut sink = 0u64;
    for _ in 0..3 {
        let started = Instant::now();
        let sum = buffer
            .chunks(8)
            .fold([0u64; 8], |mut acc, chunk| {
                for (a, v) in acc.iter_mut().zip(chunk) {
                    *a = a.wrapping_add(*v);
                }
                acc
            })
            .iter()
            .fold(0u64, |a, v| a.wrapping_add(*v));
        sink = sink.wrapping_add(std::hint::black_box(sum));
        best = best.min(started.elapsed().as_secs_f64());
    }
    std::hint::black_box(sink);
    (WORDS * 8) as f64 / best / 1e9
}
