//! GPU bandwidth benchmark of the wgpu backend's matrix-vector kernels.
//!
//! Prints, in one run, the device's copy-bandwidth ceiling (a large buffer-to-buffer copy,
//! bytes read + written over time) and, for each weight format at ≥ 256 MB of weights, the
//! bandwidth the `matmul` of one token (and of 2 and 4 tokens) achieves and its fraction of the
//! ceiling. Each result is also checked against a CPU reference on sampled rows. A last section
//! times the expert-indexed `matmul_selected` at Qwen3-30B-A3B shapes (8 of 128 q4 experts of
//! `[768, 2048]` and `[2048, 768]`, one token), counting the bytes of the 8 selected matrices.
//!
//! ```text
//! cargo run --release -p floe-wgpu --example gpu_bench -- [--quick] [--tune] [--tune-formats q4,q8_0] [--adapter NAME]
//! ```
//!
//! `--quick` uses small sizes and allows software adapters (a smoke test on lavapipe);
//! `--tune` also sweeps the matrix-vector workgroup shapes and code decodings (of every format,
//! or of those `--tune-formats` lists).

mod attention;
mod ceilings;
mod chain;

use std::time::Instant;

use bytes::Bytes;
use floe_compute::{Backend, WeightData};
use floe_quant::{QuantFormat, QuantMatrix};
use floe_wgpu::{AdapterChoice, CodeDecode, MatvecTuning, WgpuBackend, WgpuOptions};

pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A fast deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

struct Args {
    quick: bool,
    tune: bool,
    tune_formats: Option<Vec<String>>,
    adapter: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        quick: false,
        tune: false,
        tune_formats: None,
        adapter: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => args.quick = true,
            "--tune" => args.tune = true,
            "--tune-formats" => {
                let list = it.next().ok_or("--tune-formats needs a list such as q4,q8_0")?;
                args.tune = true;
                args.tune_formats = Some(list.split(',').map(str::to_string).collect());
            }
            "--adapter" => args.adapter = Some(it.next().ok_or("--adapter needs a name")?),
            "--bench" => {} // passed by `cargo bench`
            other => {
                return Err(format!(
                    "unknown argument {other} (expected --quick, --tune, --tune-formats LIST, --adapter NAME)"
                )
                .into())
            }
        }
    }
    Ok(args)
}

/// The median of `v` (the upper one of an even count).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A random `[rows, cols]` weight in `format` with values near [-1, 1] (codes uniform, valid
/// finite scales), built plane by plane without quantizing.
fn random_weight(
    format: QuantFormat,
    rows: usize,
    cols: usize,
    rng: &mut Rng,
) -> Result<WeightData> {
    let n = rows * cols;
    let mut bytes = Vec::with_capacity(format.matrix_bytes(rows, cols)?);
    let half_bits = |v: f32, bf: bool| {
        if bf {
            half::bf16::from_f32(v).to_bits()
        } else {
            half::f16::from_f32(v).to_bits()
        }
    };
    match format {
        QuantFormat::F32 => (0..n).for_each(|_| bytes.extend_from_slice(&rng.unit().to_le_bytes())),
        QuantFormat::F16 | QuantFormat::Bf16 => {
            let bf = format == QuantFormat::Bf16;
            (0..n).for_each(|_| bytes.extend_from_slice(&half_bits(rng.unit(), bf).to_le_bytes()));
        }
        QuantFormat::Q8_0 => {
            for _ in 0..n / 32 {
                bytes.extend_from_slice(
                    &half_bits(0.008 * (1.0 + 0.5 * rng.unit()), false).to_le_bytes(),
                );
                (0..4).for_each(|_| bytes.extend_from_slice(&rng.next().to_le_bytes()));
            }
        }
        QuantFormat::Affine(a) => {
            let groups = n / a.group_size as usize;
            (0..n * a.bits as usize / 64)
                .for_each(|_| bytes.extend_from_slice(&rng.next().to_le_bytes()));
            let levels = ((1u32 << a.bits) - 1) as f32;
            for plane in 0..2 {
                for _ in 0..groups {
                    let v = if plane == 0 {
                        (1.5 + 0.5 * rng.unit()) / levels
                    } else {
                        -1.0 + 0.5 * rng.unit()
                    };
                    match a.scale {
                        floe_quant::ScaleType::F32 => bytes.extend_from_slice(&v.to_le_bytes()),
                        floe_quant::ScaleType::F16 => {
                            bytes.extend_from_slice(&half_bits(v, false).to_le_bytes())
                        }
                        floe_quant::ScaleType::Bf16 => {
                            bytes.extend_from_slice(&half_bits(v, true).to_le_bytes())
                        }
                    }
                }
            }
        }
    }
    Ok(WeightData {
        format,
        rows,
        cols,
        bytes: Bytes::from(bytes),
    })
}

/// `moved` bytes in `secs`: MB, µs, GB/s and the fraction of the copy `ceiling` (GB/s).
fn rate(moved: usize, secs: f64, ceiling: f64) -> String {
    let gbs = moved as f64 / secs / 1e9;
    format!(
        "{:7.2} MB  {:8.1} us  {gbs:6.0} GB/s  {:5.1}% of copy",
        moved as f64 / 1e6,
        secs * 1e6,
        100.0 * gbs / ceiling
    )
}

/// Seconds per `matmul` of `x` by `w`: median of 5 runs of `reps` products in one submit.
fn time_matmul(
    b: &WgpuBackend,
    x: &floe_wgpu::WgpuTensor,
    w: &floe_wgpu::WgpuWeight,
    reps: usize,
) -> Result<f64> {
    time_op(b, reps, || b.matmul(x, w))
}

/// Seconds per call of `op` (which records GPU work): median of 5 runs of `reps` calls in one
/// submit, after 2 warm-up calls.
fn time_op(
    b: &WgpuBackend,
    reps: usize,
    op: impl Fn() -> std::result::Result<floe_wgpu::WgpuTensor, floe_compute::ComputeError>,
) -> Result<f64> {
    for _ in 0..2 {
        let _ = op()?;
    }
    b.finish()?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let outs: Vec<_> = (0..reps)
            .map(|_| op())
            .collect::<std::result::Result<_, _>>()?;
        let t = Instant::now();
        b.finish()?;
        times.push(t.elapsed().as_secs_f64() / reps as f64);
        drop(outs);
    }
    Ok(median(times))
}

/// `matmul_selected` at Qwen3-30B-A3B shapes: a q4 stack of `experts` experts of
/// `[768, 2048]` (gate) and of `[2048, 768]` (down), 8 routes of one token from `route_topk`
/// on random logits. Returns the lines for the summary.
fn bench_selected(
    b: &WgpuBackend,
    rng: &mut Rng,
    ceiling: f64,
    reps: usize,
    experts: usize,
) -> Result<Vec<String>> {
    let format: QuantFormat = "q4".parse()?;
    let k = 8;
    let mut lines = Vec::new();
    for (label, rows, cols) in [("gate", 768usize, 2048usize), ("down", 2048, 768)] {
        let parts: Vec<WeightData> = (0..experts)
            .map(|_| random_weight(format, rows, cols, rng))
            .collect::<Result<_>>()?;
        let stack = b.weight_stack(parts.clone())?;
        let logits: Vec<f32> = (0..experts).map(|_| 4.0 * rng.unit()).collect();
        let routes = b.route_topk(&b.upload(&logits, 1, experts)?, k, true)?;
        let xs: Vec<f32> = (0..cols).map(|_| rng.unit()).collect();
        let x = b.upload(&xs, 1, cols)?;
        // Check: the 8 selected rows' products against a CPU reference on sampled rows.
        let ids: Vec<usize> = b.download(&routes)?[..k]
            .iter()
            .map(|&v| v as usize)
            .collect();
        let got = b.download(&b.matmul_selected(&x, &stack, &routes)?)?;
        let mut worst = 0f64;
        let mut row = vec![0f32; cols];
        for (j, &id) in ids.iter().enumerate() {
            let data = &parts[id];
            let m = QuantMatrix::new(data.format, rows, cols, &data.bytes)?;
            for r in (0..rows).step_by(rows / 16) {
                m.dequantize_row(r, &mut row);
                let exact: f64 = row
                    .iter()
                    .zip(&xs)
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum();
                let scale: f64 = row
                    .iter()
                    .zip(&xs)
                    .map(|(&a, &b)| (a as f64 * b as f64).abs())
                    .sum();
                worst = worst.max((got[j * rows + r] as f64 - exact).abs() / scale.max(1e-30));
            }
        }
        let moved = k * parts[0].bytes.len() + 4 * (cols + k * rows);
        let secs = time_op(b, reps, || b.matmul_selected(&x, &stack, &routes))?;
        let line = format!(
            "  selected q4 {label} {k} of {experts} [{rows}x{cols}] {}  max rel err {worst:.1e}",
            rate(moved, secs, ceiling)
        );
        println!("{line}");
        lines.push(line);
        // With int8 x (integer dot products).
        b.set_int8_activations(true);
        let secs = time_op(b, reps, || b.matmul_selected(&x, &stack, &routes))?;
        b.set_int8_activations(false);
        let line = format!(
            "  selected q4 {label} int8 x [{rows}x{cols}] {}",
            rate(moved, secs, ceiling)
        );
        println!("{line}");
        lines.push(line);
        // The same bytes as one dense weight ([8·rows, cols], plain `matmul`): what the
        // selected kernel is compared against.
        let dense = random_weight(format, k * rows, cols, rng)?;
        let w = b.weight(dense)?;
        let secs = time_op(b, reps, || b.matmul(&x, &w))?;
        let line = format!(
            "  dense    q4 {label} as one [{}x{cols}] {}",
            k * rows,
            rate(moved, secs, ceiling)
        );
        println!("{line}");
        lines.push(line);
    }
    Ok(lines)
}

/// Largest error on sampled rows of the backend's product, relative to Σ|w·x| of the row.
fn check(
    b: &WgpuBackend,
    data: &WeightData,
    xs: &[f32],
    tokens: usize,
    w: &floe_wgpu::WgpuWeight,
) -> Result<f64> {
    let x = b.upload(xs, tokens, data.cols)?;
    let got = b.download(&b.matmul(&x, w)?)?;
    let m = QuantMatrix::new(data.format, data.rows, data.cols, &data.bytes)?;
    let mut row = vec![0f32; data.cols];
    let mut worst = 0f64;
    for r in (0..data.rows).step_by((data.rows / 61).max(1)) {
        m.dequantize_row(r, &mut row);
        for t in 0..tokens {
            let xt = &xs[t * data.cols..(t + 1) * data.cols];
            let exact: f64 = row.iter().zip(xt).map(|(&a, &b)| a as f64 * b as f64).sum();
            let scale: f64 = row
                .iter()
                .zip(xt)
                .map(|(&a, &b)| (a as f64 * b as f64).abs())
                .sum();
            worst = worst.max((got[t * data.rows + r] as f64 - exact).abs() / scale.max(1e-30));
        }
    }
    Ok(worst)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    for a in WgpuBackend::list_adapters() {
        println!("adapter {a}");
    }
    let adapter = args
        .adapter
        .clone()
        .map_or(AdapterChoice::Auto, AdapterChoice::Name);
    // Work is submitted only at `finish`, so the timers (started after recording) see all of it.
    let b = WgpuBackend::new(WgpuOptions {
        adapter,
        allow_software: args.quick,
        max_pending_dispatches: usize::MAX,
        streamed_pending_dispatches: usize::MAX,
        ..WgpuOptions::default()
    })?;
    println!(
        "using {} features {:?}, max binding {} B",
        b.name(),
        b.features(),
        b.max_binding_bytes()
    );

    let (copy_bytes, min_weight, reps) = if args.quick {
        (16u64 << 20, 4usize << 20, 3)
    } else {
        (1u64 << 30, 256usize << 20, 50)
    };
    let ceilings = ceilings::measure(&b, copy_bytes, reps.min(20))?;
    let ceiling = ceilings.copy();
    println!(
        "copy ceiling: {ceiling:.0} GB/s ({} MiB, read + written; copy_buffer_to_buffer {:.0} GB/s, shader copy {:.0} GB/s); shader read-only pass {:.0} GB/s",
        copy_bytes >> 20,
        ceilings.transfer_copy,
        ceilings.shader_copy,
        ceilings.shader_read
    );
    let o = ceilings::overheads(&b, if args.quick { 20 } else { 200 })?;
    println!(
        "round trip (tiny op + download of one value): {:.1} us; one tiny dispatch: {:.1} us to record on the CPU, {:.1} us on the device when independent, {:.1} us when each reads the previous one's output",
        o.round_trip, o.record, o.independent, o.dependent
    );

    let cols = 4096;
    let formats = ["q4", "q2", "q8_0", "affine8-g64-bf16", "f16", "bf16", "f32"];
    let mut rng = Rng(0x5eed);
    let mut table = Vec::new();
    for name in formats {
        let format: QuantFormat = name.parse()?;
        let row_bytes = format.matrix_bytes(1, cols)?;
        let rows = min_weight.div_ceil(row_bytes).next_multiple_of(256);
        let data = random_weight(format, rows, cols, &mut rng)?;
        let t = Instant::now();
        let w = b.weight(data.clone())?;
        b.finish()?;
        let upload_s = t.elapsed().as_secs_f64();
        // T = 1, 2, 4 with f32 x, then T = 1 with int8 x (integer dot products) where the
        // format has it.
        let int8 = matches!(name, "q4" | "q8_0");
        let runs = [(1usize, false), (2, false), (4, false), (1, true)];
        for (tokens, int8_x) in runs.into_iter().filter(|&(_, i)| !i || int8) {
            b.set_int8_activations(int8_x);
            let xs: Vec<f32> = (0..tokens * cols).map(|_| rng.unit()).collect();
            let err = check(&b, &data, &xs, tokens, &w)?;
            let x = b.upload(&xs, tokens, cols)?;
            let moved = data.bytes.len() + 4 * tokens * (cols + rows);
            let secs = time_matmul(&b, &x, &w, reps)?;
            let label = if int8_x {
                format!("{name} int8 x")
            } else {
                name.to_string()
            };
            let line = format!(
                "{label:>16} T={tokens} [{rows}x{cols}] {}  max rel err {err:.1e}",
                rate(moved, secs, ceiling)
            );
            println!("{line}");
            if tokens == 1 && !int8_x {
                println!(
                    "{name:>16} upload {:.2} s ({:.1} GB/s)",
                    upload_s,
                    data.bytes.len() as f64 / upload_s / 1e9
                );
            }
            table.push(line);
        }
        if int8 {
            // int8 x as a decode step gets it: written by the rms_norm before the product
            // (no quantizing dispatch), timed together with that norm.
            b.set_int8_activations(true);
            let x = b.upload(&(0..cols).map(|_| rng.unit()).collect::<Vec<_>>(), 1, cols)?;
            let norm = b.weight(random_weight(QuantFormat::F32, 1, cols, &mut rng)?)?;
            let moved = data.bytes.len() + 4 * (cols + rows);
            let secs = time_op(&b, reps, || {
                b.matmul(&b.rms_norm(&x, &norm, 1e-6, 0.0)?, &w)
            })?;
            let line = format!(
                "{:>16} T=1 [{rows}x{cols}] {}  (rms_norm + product)",
                format!("{name} int8 normed"),
                rate(moved, secs, ceiling)
            );
            println!("{line}");
            table.push(line);
        }
        b.set_int8_activations(false);
        if args.tune
            && name != "f32"
            && args
                .tune_formats
                .as_ref()
                .is_none_or(|f| f.contains(&name.to_string()))
        {
            let x = b.upload(&(0..cols).map(|_| rng.unit()).collect::<Vec<_>>(), 1, cols)?;
            let moved = data.bytes.len() + 4 * (cols + rows);
            let decodes = [
                CodeDecode::Mantissa,
                CodeDecode::Convert,
                CodeDecode::HalfPairs,
            ];
            // Each decoding with f32 x, then (as "Int8") the integer-dot kernels.
            let modes = decodes
                .into_iter()
                .map(|d| (d, false))
                .chain(int8.then_some((CodeDecode::Mantissa, true)));
            for (decode, int8_x) in modes {
                if decode == CodeDecode::HalfPairs
                    && !(matches!(name, "q4" | "q2") || name.starts_with("affine"))
                {
                    continue;
                }
                b.set_int8_activations(int8_x);
                let mode = if int8_x {
                    "Int8".to_string()
                } else {
                    format!("{decode:?}")
                };
                for threads in [64, 128, 256] {
                    // One-token row slots take threads / slots invocations each and compute
                    // `nr` rows each.
                    for per_row in [1u32, 2, 4, 8, 16, 32] {
                        for nr in [1u32, 2, 4, 8] {
                            let r = threads / per_row;
                            let tuning = MatvecTuning {
                                threads,
                                rows: r,
                                rows_per_invocation: nr,
                            };
                            b.set_matvec_kernel(decode, Some(tuning));
                            let secs = time_matmul(&b, &x, &w, reps)?;
                            let gbs = moved as f64 / secs / 1e9;
                            println!("tune {name:>6} {mode} threads={threads:3} slots={r:3} per_row={per_row:2} nr={nr} {:8.1} us {gbs:6.0} GB/s {:5.1}%", secs * 1e6, 100.0 * gbs / ceiling);
                        }
                    }
                }
            }
            b.set_matvec_kernel(CodeDecode::Mantissa, None);
            b.set_int8_activations(false);
        }
    }
    // Qwen3-30B-A3B has 128 experts per layer; --quick stacks 16 to keep the upload short.
    let experts = if args.quick { 16 } else { 128 };
    // One selected product moves ~7 MB (tens of µs on a GPU): 20× the repetitions keep each
    // timed submit long enough that launch gaps and clock ramps do not dominate.
    let selected_reps = if args.quick { reps } else { 20 * reps };
    table.extend(bench_selected(
        &b,
        &mut rng,
        ceiling,
        selected_reps,
        experts,
    )?);
    table.extend(chain::bench(&b, &mut rng, args.tune)?);
    table.extend(attention::bench(&b, &mut rng, ceiling)?);
    println!(
        "\nsummary (copy ceiling {ceiling:.0} GB/s on {}):",
        b.adapter().name
    );
    for line in table {
        println!("{line}");
    }
    Ok(())
}
