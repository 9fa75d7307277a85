//! Criterion bench `matvec`: the CPU backend's matrix-vector product (decode, `T = 1`) on a
//! 256 MB weight per format, in GB/s of weight bytes, against a multi-threaded memory-read pass
//! over a 256 MB buffer on the same number of threads (the ceiling), all in one run.
//!
//! - `matvec/memory_read` (first) and `matvec/memory_read_end` (last): every thread sums its share
//!   of a 256 MB `u64` buffer (threads started once, like the backend's pool); the faster of the
//!   two is the ceiling.
//! - `matvec/<format>`: `CpuBackend::matmul` of a `[1, 4096]` input by a ~256 MB `[N, 4096]`
//!   weight in `q4`, `q8_0`, `bf16`, `f16` and `f32`.
//! - `matvec/prefill_q4_t32`: the same q4 weight times a `[32, 4096]` input (GB/s of weight bytes;
//!   the summary also gives multiply-adds per second).
//!
//! After the measurements the bench prints each result's GB/s and its ratio to the ceiling, and
//! for each matrix-vector product the median ratio over alternating (memory read, matvec) pairs,
//! which is steadier on a machine shared with other work.
//! Run: `cargo bench --bench matvec -- --warm-up-time 1 --measurement-time 4`. The backend uses all
//! cores (`FLOE_BENCH_THREADS=n` overrides); `FLOE_QUANT_ISA=avx2|scalar` caps the kernels.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use floe_compute::cpu::CpuBackend;
use floe_compute::{Backend, WeightData};
use floe_quant::{quantize, QuantFormat};

/// Values per weight row.
const COLS: usize = 4096;
/// Bytes of every weight matrix and of the memory-read buffer.
const TARGET_BYTES: usize = 256_000_000;
/// Tokens of the prefill case.
const PREFILL_TOKENS: usize = 32;
/// Rows quantized once and tiled to fill a matrix (what a kernel reads does not depend on the
/// values, and quantizing 256 MB of weights would dominate the bench's run time).
const TILE_ROWS: usize = 64;

/// Deterministic values in `[-0.05, 0.05)`.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
        })
        .collect()
}

/// A `[rows, COLS]` weight of about [`TARGET_BYTES`] in `format`: [`TILE_ROWS`] quantized rows
/// repeated, plane by plane.
fn weight(format: QuantFormat) -> WeightData {
    let planes = format.row_plane_bytes(COLS);
    let row_bytes: usize = planes.iter().sum();
    let copies = TARGET_BYTES / (row_bytes * TILE_ROWS);
    let rows = copies * TILE_ROWS;
    let tile =
        quantize(format, TILE_ROWS, COLS, &values(TILE_ROWS * COLS, 7)).expect("quantize a tile");
    let mut bytes = Vec::with_capacity(rows * row_bytes);
    let mut tile_start = 0;
    for plane in planes {
        let part = &tile[tile_start..tile_start + plane * TILE_ROWS];
        for _ in 0..copies {
            bytes.extend_from_slice(part);
        }
        tile_start += plane * TILE_ROWS;
    }
    WeightData {
        format,
        rows,
        cols: COLS,
        bytes: Bytes::from(bytes),
    }
}

/// Sums `words` with independent accumulators (so that the loop is bound by loads).
fn sum_words(words: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    let mut chunks = words.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            acc[l] = acc[l].wrapping_add(c[l]);
        }
    }
    let tail: u64 = chunks.remainder().iter().fold(0, |a, w| a.wrapping_add(*w));
    acc.iter().fold(tail, |a, w| a.wrapping_add(*w))
}

/// Threads that each sum an equal share of a buffer on request: started once, like the
/// backend's pool, so that thread start-up is not part of the measured read.
struct Readers {
    go: Vec<mpsc::Sender<()>>,
    done: mpsc::Receiver<u64>,
}

impl Readers {
    /// `threads` readers of a [`TARGET_BYTES`] buffer.
    fn new(threads: usize) -> Self {
        let words: Vec<u64> = (0..TARGET_BYTES as u64 / 8)
            .map(|i| i.wrapping_mul(0x9E37_79B9))
            .collect();
        let buffer = Arc::new(words);
        let share = buffer.len().div_ceil(threads);
        let (done_tx, done) = mpsc::channel();
        let go = (0..threads)
            .map(|i| {
                let (go_tx, go_rx) = mpsc::channel::<()>();
                let (buffer, done_tx) = (Arc::clone(&buffer), done_tx.clone());
                std::thread::spawn(move || {
                    let part =
                        &buffer[(i * share).min(buffer.len())..((i + 1) * share).min(buffer.len())];
                    // Ends when `Readers` is dropped (its senders with it).
                    while go_rx.recv().is_ok() {
                        if done_tx.send(sum_words(part)).is_err() {
                            break;
                        }
                    }
                });
                go_tx
            })
            .collect();
        Self { go, done }
    }

    /// One pass over the whole buffer, all readers at once.
    fn read(&self) -> u64 {
        for g in &self.go {
            g.send(()).expect("reader thread alive");
        }
        (0..self.go.len()).fold(0u64, |a, _| {
            a.wrapping_add(self.done.recv().expect("reader thread alive"))
        })
    }
}

/// Alternating memory-read passes and `run`s, timed one by one.
const PAIRS: usize = 15;

/// The median over [`PAIRS`] alternations of (bytes per second of `run` reading `bytes`) /
/// (bytes per second of a memory-read pass just before it): a ratio that load from other
/// processes, which drifts over seconds, disturbs much less than separate measurements.
fn paired_ratio(readers: &Readers, bytes: usize, mut run: impl FnMut()) -> f64 {
    let mut ratios: Vec<f64> = (0..PAIRS)
        .map(|_| {
            let t = Instant::now();
            black_box(readers.read());
            let read = t.elapsed().as_secs_f64();
            let t = Instant::now();
            run();
            let ran = t.elapsed().as_secs_f64();
            (bytes as f64 / ran) / (TARGET_BYTES as f64 / read)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[PAIRS / 2]
}

/// A measured case: its id, weight bytes, multiply-adds (prefill) and paired ratio.
type Measured = (String, f64, f64, f64);

fn bench(c: &mut Criterion, backend: &CpuBackend) -> Vec<Measured> {
    let mut measured = Vec::new();
    let mut group = c.benchmark_group("matvec");
    group.sample_size(10);

    let readers = Readers::new(backend.threads());
    group.throughput(Throughput::BytesDecimal(TARGET_BYTES as u64));
    let read = |b: &mut criterion::Bencher<'_>| b.iter(|| black_box(readers.read()));
    group.bench_function("memory_read", read);
    measured.push(("memory_read".to_string(), TARGET_BYTES as f64, 0.0, 1.0));

    let x1 = backend.upload(&values(COLS, 1), 1, COLS).expect("upload x");
    let x32 = backend
        .upload(&values(PREFILL_TOKENS * COLS, 2), PREFILL_TOKENS, COLS)
        .expect("upload x");
    for name in ["q4", "q8_0", "bf16", "f16", "f32"] {
        let format: QuantFormat = name.parse().expect("format name");
        let data = weight(format);
        let (bytes, rows) = (data.bytes.len(), data.rows);
        let w = backend.weight(data).expect("weight");
        group.throughput(Throughput::BytesDecimal(bytes as u64));
        group.bench_function(name, |b| {
            b.iter(|| black_box(backend.matmul(&x1, &w).expect("matmul")))
        });
        let ratio = paired_ratio(&readers, bytes, || {
            black_box(backend.matmul(&x1, &w).expect("matmul"));
        });
        measured.push((name.to_string(), bytes as f64, 0.0, ratio));
        if name == "q4" {
            let id = format!("prefill_q4_t{PREFILL_TOKENS}");
            group.bench_function(&id, |b| {
                b.iter(|| black_box(backend.matmul(&x32, &w).expect("matmul")))
            });
            // Compute-bound: no paired ratio.
            measured.push((
                id,
                bytes as f64,
                (rows * COLS * PREFILL_TOKENS) as f64,
                f64::NAN,
            ));
        }
    }
    // Again at the end: on a shared machine the ceiling can drift during the run.
    group.throughput(Throughput::BytesDecimal(TARGET_BYTES as u64));
    group.bench_function("memory_read_end", read);
    measured.push(("memory_read_end".to_string(), TARGET_BYTES as f64, 0.0, 1.0));
    group.finish();
    measured
}

/// The median time in seconds criterion recorded for `matvec/<id>` since `since` (older estimates
/// are from another run).
fn median_seconds(id: &str, since: SystemTime) -> Option<f64> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let mut candidates = vec![target.join("criterion")];
    // `cargo bench` runs benches in the package root; the workspace target may be elsewhere.
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/criterion"));
    candidates.into_iter().find_map(|home| {
        let path = home.join("matvec").join(id).join("new/estimates.json");
        if std::fs::metadata(&path).ok()?.modified().ok()? < since {
            return None;
        }
        let text = std::fs::read_to_string(path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some(json["median"]["point_estimate"].as_f64()? * 1e-9)
    })
}

fn main() {
    let start = SystemTime::now();
    let threads = std::env::var("FLOE_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok());
    let backend = CpuBackend::new(threads).expect("CPU backend");
    println!("backend: {}", backend.name());
    let mut criterion = Criterion::default().configure_from_args();
    let measured = bench(&mut criterion, &backend);
    criterion.final_summary();

    // The ceiling: the faster of the two memory-read passes.
    let ceiling = ["memory_read", "memory_read_end"]
        .iter()
        .filter_map(|id| median_seconds(id, start))
        .map(|s| TARGET_BYTES as f64 / s)
        .fold(None, |best: Option<f64>, r| {
            Some(best.map_or(r, |b| b.max(r)))
        });
    let Some(ceiling) = ceiling else {
        println!("(no criterion estimates found for matvec/memory_read: no summary)");
        return;
    };
    println!(
        "\nsummary ({}): GB/s of weight bytes (criterion median), ratio to the faster \
         memory-read pass, and the median ratio of {PAIRS} alternating (memory read, matvec) pairs:",
        backend.name()
    );
    for (id, bytes, macs, paired) in measured {
        let Some(seconds) = median_seconds(&id, start) else {
            continue;
        };
        let rate = bytes / seconds;
        let paired = if paired.is_nan() {
            "     -".to_string()
        } else {
            format!("{:>5.1}%", 100.0 * paired)
        };
        let extra = if macs > 0.0 {
            format!("  ({:.1} G multiply-adds/s)", macs / seconds * 1e-9)
        } else {
            String::new()
        };
        println!(
            "  {id:<16} {:>7.2} GB/s  {:>5.1}%  paired {paired}{extra}",
            rate * 1e-9,
            100.0 * rate / ceiling
        );
    }
}
