//! Criterion bench `quant`: dequantize and dot throughput of floe-quant per format, in GB/s of
//! stored bytes, on one core.
//!
//! - `memory_read/u64_sum`: the baseline, a sum over a 64 MiB `u64` slice (plain memory read).
//! - `dot_row/<format>`: `QuantMatrix::dot_row` over every row of a ~64 MiB matrix (not in
//!   cache: the L3 is smaller), i.e. a single-threaded matrix-vector product.
//! - `dot_row_prepared/<format>`: the same with `QuantMatrix::prepare` once per vector.
//! - `dequantize_row/<format>`: `QuantMatrix::dequantize_row` of every row of the ~64 MiB matrix
//!   into one reused buffer.
//! - `dot_row_in_cache/<format>` (and `<format>_prepared`): `dot_row` (`dot_row_prepared`) over a
//!   ~512 KiB matrix that stays in L2, the speed of the kernel itself.
//!
//! Run: `cargo bench --bench quant -- --warm-up-time 1 --measurement-time 3`. The kernels are the
//! best this CPU supports; `FLOE_QUANT_ISA=avx2` (or `scalar`) caps them for comparison. On a
//! shared machine, `FLOE_BENCH_CPU_TIME=1` measures the benchmark thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`, Linux only) instead of wall-clock time, so that time the thread
//! spends descheduled does not count (contention for memory bandwidth and caches still does).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use floe_quant::kernels::Isa;
use floe_quant::{quantize, QuantFormat, QuantMatrix};

/// Values per row of every benchmark matrix.
const COLS: usize = 4096;
/// Target size of the out-of-cache matrices.
const BIG_BYTES: usize = 64 << 20;
/// Target size of the in-cache matrices.
const SMALL_BYTES: usize = 512 << 10;

fn formats() -> Vec<QuantFormat> {
    ["f32", "f16", "bf16", "q8_0", "q4", "q2", "affine8-g64-bf16"]
        .iter()
        .map(|f| f.parse().unwrap())
        .collect()
}

/// Deterministic weight-like values.
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

/// A `[rows, COLS]` matrix in `format` of about `target` bytes: up to 64 quantized rows, tiled plane
/// by plane (the bytes a kernel reads do not depend on what the rows hold).
fn matrix(format: QuantFormat, target: usize) -> (usize, Vec<u8>) {
    let row_bytes: usize = format.row_plane_bytes(COLS).iter().sum();
    let tile_rows = (target / row_bytes).clamp(1, 64);
    let tile = quantize(format, tile_rows, COLS, &values(tile_rows * COLS, 7)).unwrap();
    let copies = (target / (row_bytes * tile_rows)).max(1);
    let rows = copies * tile_rows;
    let mut bytes = Vec::with_capacity(rows * row_bytes);
    let mut tile_plane_start = 0;
    for plane in format.row_plane_bytes(COLS) {
        let tile_plane = &tile[tile_plane_start..tile_plane_start + tile_rows * plane];
        for _ in 0..copies {
            bytes.extend_from_slice(tile_plane);
        }
        tile_plane_start += tile_rows * plane;
    }
    (rows, bytes)
}

fn memory_read<M: Measurement>(c: &mut Criterion<M>) {
    let data: Vec<u64> = (0..(BIG_BYTES / 8) as u64).collect();
    let mut group = c.benchmark_group("memory_read");
    group
        .sample_size(10)
        .throughput(Throughput::Bytes(BIG_BYTES as u64));
    group.bench_function("u64_sum", |b| {
        b.iter(|| {
            black_box(&data)
                .iter()
                .fold(0u64, |a, &v| a.wrapping_add(v))
        })
    });
    group.finish();
}

fn big_matrices<M: Measurement>(c: &mut Criterion<M>) {
    eprintln!("floe-quant kernels: {}", Isa::active().name());
    let x = values(COLS, 11);
    for format in formats() {
        let (rows, bytes) = matrix(format, BIG_BYTES);
        let m = QuantMatrix::new(format, rows, COLS, &bytes).unwrap();
        let throughput = Throughput::Bytes(bytes.len() as u64);

        let mut group = c.benchmark_group("dot_row");
        group.sample_size(10).throughput(throughput.clone());
        group.bench_function(format.name(), |b| {
            b.iter(|| (0..rows).map(|r| m.dot_row(r, black_box(&x))).sum::<f32>())
        });
        group.finish();

        if format.is_quantized() {
            let mut group = c.benchmark_group("dot_row_prepared");
            group.sample_size(10).throughput(throughput.clone());
            group.bench_function(format.name(), |b| {
                b.iter(|| {
                    let prepared = m.prepare(black_box(&x));
                    (0..rows)
                        .map(|r| m.dot_row_prepared(r, &prepared))
                        .sum::<f32>()
                })
            });
            group.finish();
        }

        let mut group = c.benchmark_group("dequantize_row");
        group.sample_size(10).throughput(throughput);
        let mut out = vec![0.0f32; COLS];
        group.bench_function(format.name(), |b| {
            b.iter(|| {
                for r in 0..rows {
                    m.dequantize_row(r, &mut out);
                    black_box(&out);
                }
            })
        });
        group.finish();
    }
}

fn in_cache<M: Measurement>(c: &mut Criterion<M>) {
    let x = values(COLS, 13);
    let mut group = c.benchmark_group("dot_row_in_cache");
    for format in formats() {
        let (rows, bytes) = matrix(format, SMALL_BYTES);
        let m = QuantMatrix::new(format, rows, COLS, &bytes).unwrap();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format.name(), |b| {
            b.iter(|| (0..rows).map(|r| m.dot_row(r, black_box(&x))).sum::<f32>())
        });
        if format.is_quantized() {
            let prepared = m.prepare(&x);
            group.bench_function(format!("{}_prepared", format.name()), |b| {
                b.iter(|| {
                    (0..rows)
                        .map(|r| m.dot_row_prepared(r, black_box(&prepared)))
                        .sum::<f32>()
                })
            });
        }
    }
    group.finish();
}

/// CPU time of the calling thread, in nanoseconds (values format like wall-clock durations).
struct ThreadCpuTime;

#[cfg(target_os = "linux")]
fn thread_cpu_ns() -> u64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the duration of the call.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_ns() -> u64 {
    panic!("FLOE_BENCH_CPU_TIME is only supported on Linux")
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, as wall-clock time.
        WallTime.formatter()
    }
}

fn run<M: Measurement>(c: Criterion<M>) {
    let mut c = c
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    memory_read(&mut c);
    big_matrices(&mut c);
    in_cache(&mut c);
    c.final_summary();
}

fn main() {
    if std::env::var_os("FLOE_BENCH_CPU_TIME").is_some_and(|v| v == "1") {
        run(Criterion::default().with_measurement(ThreadCpuTime));
    } else {
        run(Criterion::default());
    }
}
