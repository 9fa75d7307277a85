//! `cargo xtask stream-bench`: the benchmark that decides the expert-streaming issue.
//!
//! Builds floe (release), writes the `qwen3-30b-a3b` q4 preset with `floe synth` (all 48 layers
//! if the disk has room, else the largest prefix slice that fits), writes a synthetic routing
//! trace, measures the disk's O_DIRECT random-read ceiling with fio
//! (`/work/shared/tools/disk-ceiling`) at the expert blob size and floe's queue depth, measures
//! memory read bandwidth (`floe bench --memory-ceiling`), then runs `floe bench --json` for every
//! engine × cache policy × routing inside a cgroup v1 memory limit with a cold page cache
//! (`/work/shared/tools/memcap`), plus one fully cached run (a one-token trace repeated) that
//! measures compute alone. It prints a Markdown table of the results against the floors.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde_json::Value;

/// Options of `cargo xtask stream-bench`.
pub struct Options {
    /// Where the synthetic checkpoint and traces live.
    pub dir: PathBuf,
    /// Decode tokens per configuration.
    pub tokens: usize,
    /// Prompt tokens per configuration.
    pub prompt_tokens: usize,
    /// `--cache-budget` of every run.
    pub cache_budget: String,
    /// The cgroup memory limit (memcap syntax, e.g. `8G`).
    pub memory_limit: String,
    /// Read parallelism (pread threads and io_uring queue depth; fio runs at it too).
    pub queue_depth: usize,
    /// Seconds of fio.
    pub fio_seconds: u32,
}

const MEMCAP: &str = "/work/shared/tools/memcap";
const DISK_CEILING: &str = "/work/shared/tools/disk-ceiling";
/// Bytes per layer of the q4 preset (16.04 GiB over 48 layers), with headroom.
const LAYER_BYTES: u64 = 360 << 20;
const PRESET_LAYERS: u64 = 48;

/// Runs the benchmark; prints the table. `Ok(false)` if a target is missed.
pub fn run(options: &Options) -> anyhow::Result<bool> {
    let root = workspace_root();
    status("building floe (release, CPU backend)");
    let built = Command::new("cargo")
        .current_dir(&root)
        .args(["build", "--release", "-p", "floe", "--no-default-features"])
        .status()
        .context("running cargo build")?;
    if !built.success() {
        bail!("cargo build --release -p floe failed");
    }
    let floe = root.join("target/release/floe");
    let model = options.dir.join("qwen3-30b-a3b-q4");
    prepare_model(&floe, &model, &options.dir)?;
    let trace = options.dir.join("trace.jsonl");
    let one_token = options.dir.join("trace-one-token.jsonl");
    for (path, tokens) in [(&trace, options.tokens.max(64)), (&one_token, 1)] {
        run_checked(
            Command::new(&floe)
                .arg("synth-trace")
                .arg("--checkpoint")
                .arg(&model)
                .args(["--tokens", &tokens.to_string()])
                .arg(path),
        )?;
    }

    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(model.join("manifest.json")).context("reading the manifest")?,
    )?;
    let layer = &manifest["expert_layers"][0];
    let blob_bytes = layer["blob_length"]
        .as_u64()
        .context("manifest blob_length")?;
    let data_file = model.join(layer["file"].as_str().context("manifest file")?);
    status(&format!(
        "fio O_DIRECT random reads of {blob_bytes} bytes at queue depth {}",
        options.queue_depth
    ));
    let fio_gbps = fio_ceiling(
        &data_file,
        blob_bytes,
        options.queue_depth,
        options.fio_seconds,
    )?;
    let mem_json = run_json(
        Command::new(&floe)
            .args(["bench", "--memory-ceiling", "--json"])
            .arg(&model),
    )?;
    let mem_gbps = mem_json["memory_read_gbps"]
        .as_f64()
        .context("memory_read_gbps")?;
    println!("\nfio ceiling: {fio_gbps:.3} GB/s; memory read: {mem_gbps:.2} GB/s\n");

    let bench = |engine: &str, policy: &str, routing: Option<&Path>| -> anyhow::Result<Value> {
        let mut command = Command::new(MEMCAP);
        command
            .arg(&options.memory_limit)
            .arg(&floe)
            .arg("bench")
            .arg(&model)
            .args(["--json", "--tokens", &options.tokens.to_string()])
            .args(["--prompt-tokens", &options.prompt_tokens.to_string()])
            .args(["--io-engine", engine, "--cache-policy", policy])
            .args(["--cache-budget", &options.cache_budget])
            .args(["--io-threads", &options.queue_depth.to_string()])
            .args(["--queue-depth", &options.queue_depth.to_string()]);
        if let Some(trace) = routing {
            command.arg("--routing").arg(trace);
        }
        status(&format!("{command:?}"));
        run_json(&mut command)
    };

    status("compute only: a one-token trace repeated, fully cached after the first token");
    let cached = bench("pread", "lru", Some(&one_token))?;
    let compute_s = 1.0 / cached["tok_per_s"].as_f64().unwrap_or(f64::NAN);

    let mut rows = Vec::new();
    for engine in ["pread", "uring"] {
        for policy in ["lru", "lfu", "none"] {
            for routing in [None, Some(trace.as_path())] {
                rows.push(bench(engine, policy, routing)?);
            }
        }
    }
    let dense = rows[0]["dense_bytes_per_token"].as_f64().unwrap_or(0.0);
    let dense_total = rows[0]["dense_bytes"].as_f64().unwrap_or(0.0);
    let budget = rows[0]["cache_budget_bytes"].as_f64().unwrap_or(0.0);
    println!(
        "\n| engine | policy | routing | tok/s | hit rate | MiB/token read | expert GB/s | ÷ fio | T_floor ms | tok/s ÷ (1/T_floor) | ÷ (1/max(T_floor, T_compute)) | stall s | peak RSS MiB | RSS limit MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut all_met = true;
    for row in rows.iter().chain(std::iter::once(&cached)) {
        let f = |key: &str| row[key].as_f64().unwrap_or(0.0);
        let read = f("bytes_per_token");
        let resident = dense + (f("expert_bytes_delivered_per_token") - read).max(0.0);
        let floor = read / (fio_gbps * 1e9) + resident / (mem_gbps * 1e9);
        let tok = f("tok_per_s");
        let gbps = f("expert_read_gbps");
        let rss = f("peak_rss_bytes");
        let budget_used = if row["cache_policy"] == "none" {
            0.0
        } else {
            budget
        };
        let rss_limit = (dense_total + budget_used) * 1.1;
        let is_cached = std::ptr::eq(row, &cached);
        let routing = if is_cached {
            "one token (compute only)"
        } else if row["routing"] == "model" {
            "random"
        } else {
            "trace"
        };
        if !is_cached {
            all_met &= read == 0.0 || gbps >= 0.9 * fio_gbps;
            all_met &= tok * floor >= 0.85;
            all_met &= rss <= rss_limit;
        }
        println!(
            "| {} | {} | {routing} | {tok:.3} | {:.1}% | {:.1} | {gbps:.3} | {:.2} | {:.1} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} |",
            row["engine"].as_str().unwrap_or("?"),
            row["cache_policy"].as_str().unwrap_or("?"),
            100.0 * f("cache_hit_rate"),
            read / (1 << 20) as f64,
            gbps / fio_gbps,
            floor * 1e3,
            tok * floor,
            tok * floor.max(compute_s),
            f("stall_seconds"),
            rss / (1 << 20) as f64,
            rss_limit / (1 << 20) as f64,
        );
    }
    println!(
        "\nT_floor = missed expert bytes per token / fio GB/s + (dense + cache-hit expert bytes) per token / memory GB/s; T_compute = {:.1} ms per token (the fully cached run)",
        compute_s * 1e3
    );
    println!(
        "targets (expert GB/s ≥ 0.9 × fio, tok/s ≥ 0.85 × 1/T_floor, peak RSS ≤ (all dense weights + budget) × 1.1): {}",
        if all_met { "all met" } else { "NOT all met" }
    );
    Ok(all_met)
}

/// Writes the preset into `model` unless it is already there, as many layers as the disk allows.
fn prepare_model(floe: &Path, model: &Path, dir: &Path) -> anyhow::Result<()> {
    if model.join("manifest.json").exists() {
        status(&format!(
            "using the existing checkpoint {}",
            model.display()
        ));
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let free = free_bytes(dir)?;
    let layers = (free.saturating_sub(2 << 30) / LAYER_BYTES).min(PRESET_LAYERS);
    if layers == 0 {
        bail!(
            "{}: not enough free disk for one layer of the preset",
            dir.display()
        );
    }
    if layers < PRESET_LAYERS {
        println!("note: the disk has room for {layers} of {PRESET_LAYERS} layers; writing that prefix slice");
    }
    run_checked(
        Command::new(floe)
            .args(["synth", "--preset", "qwen3-30b-a3b", "--quant", "q4"])
            .args(["--layers", &layers.to_string()])
            .arg(model),
    )
}

fn free_bytes(dir: &Path) -> anyhow::Result<u64> {
    let output = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .context("running df")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("cannot read df's output: {text}"))
}

fn fio_ceiling(file: &Path, bytes: u64, depth: usize, seconds: u32) -> anyhow::Result<f64> {
    let output = Command::new(DISK_CEILING)
        .arg(file)
        .arg(bytes.to_string())
        .arg(depth.to_string())
        .arg(seconds.to_string())
        .output()
        .with_context(|| format!("running {DISK_CEILING}"))?;
    if !output.status.success() {
        bail!(
            "{DISK_CEILING} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let bytes_per_s: f64 = text
        .trim()
        .parse()
        .with_context(|| format!("{DISK_CEILING} printed {text:?}"))?;
    Ok(bytes_per_s / 1e9)
}

fn run_checked(command: &mut Command) -> anyhow::Result<()> {
    status(&format!("{command:?}"));
    let ran = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !ran.success() {
        bail!("{command:?} failed ({ran})");
    }
    Ok(())
}

/// Runs `command` and parses the last line of its stdout as JSON (stderr is passed through).
fn run_json(command: &mut Command) -> anyhow::Result<Value> {
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?} failed ({})", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or("");
    serde_json::from_str(line).with_context(|| format!("{command:?} printed {text:?}"))
}

fn status(message: &str) {
    eprintln!("stream-bench: {message}");
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
