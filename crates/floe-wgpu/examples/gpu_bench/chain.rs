//! Latency of decode-sized products: a chain in which each q4 product reads the previous one's
//! output, as a decode step's kernels do, against the throughput of independent products. The
//! chain alternates `[n, m]` and `[m, n]` weights so every output is the next input.

use std::time::Instant;

use floe_compute::Backend;
use floe_quant::QuantFormat;
use floe_wgpu::{MatvecTuning, WgpuBackend};

use super::{median, random_weight, Result, Rng};

/// Products in one timed chain.
const LINKS: usize = 200;

/// Seconds per product of a chain of `LINKS` alternating products over `first` and `second`.
fn time_chain(
    b: &WgpuBackend,
    first: &floe_wgpu::WgpuWeight,
    second: &floe_wgpu::WgpuWeight,
    x: &floe_wgpu::WgpuTensor,
) -> Result<f64> {
    time_dependent(b, x, LINKS, |i, y| {
        Ok(b.matmul(y, if i % 2 == 0 { first } else { second })?)
    })
}

/// Seconds per call of a chain of `links` calls of `link` (call `i` gets the previous call's
/// output, the first gets `x`), recorded first, then run in one go: the median of 5 chains
/// after one that warms the kernels up.
pub(super) fn time_dependent(
    b: &WgpuBackend,
    x: &floe_wgpu::WgpuTensor,
    links: usize,
    mut link: impl FnMut(usize, &floe_wgpu::WgpuTensor) -> Result<floe_wgpu::WgpuTensor>,
) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..6 {
        let mut outs = Vec::with_capacity(links);
        let mut y = link(0, x)?;
        for i in 1..links {
            let next = link(i, &y)?;
            outs.push(std::mem::replace(&mut y, next));
        }
        let t = Instant::now();
        b.finish()?;
        times.push(t.elapsed().as_secs_f64() / links as f64);
    }
    times.remove(0);
    Ok(median(times))
}

/// Prints and returns the chain lines: per shape pair, the default shapes (f32 and int8 x)
/// and, when `tune`, a sweep of one-token shapes.
pub(super) fn bench(b: &WgpuBackend, rng: &mut Rng, tune: bool) -> Result<Vec<String>> {
    let format: QuantFormat = "q4".parse()?;
    let mut lines = Vec::new();
    for (label, n, m) in [("q/o", 4096usize, 2048usize), ("gate/down", 6144, 2048)] {
        let first = b.weight(random_weight(format, n, m, rng)?)?;
        let second = b.weight(random_weight(format, m, n, rng)?)?;
        let xs: Vec<f32> = (0..m).map(|_| rng.unit() * 0.01).collect();
        let x = b.upload(&xs, 1, m)?;
        let bytes = (format.matrix_bytes(n, m)? + format.matrix_bytes(m, n)?) as f64 / 2.0;
        for int8 in [false, true] {
            b.set_int8_activations(int8);
            let secs = time_chain(b, &first, &second, &x)?;
            let line = format!(
                "  chain q4 {label} [{n}x{m}]/[{m}x{n}]{} {:6.2} MB per product  {:6.1} us per product ({:5.0} GB/s)",
                if int8 { " int8 x" } else { "" },
                bytes / 1e6,
                secs * 1e6,
                bytes / secs / 1e9
            );
            println!("{line}");
            lines.push(line);
        }
        b.set_int8_activations(false);
        if tune {
            for threads in [64u32, 128, 256] {
                for per_row in [2u32, 4, 8, 16, 32] {
                    for nr in [1u32, 2, 4] {
                        b.set_matvec_kernel(
                            floe_wgpu::CodeDecode::Auto,
                            Some(MatvecTuning {
                                threads,
                                rows: threads / per_row,
                                rows_per_invocation: nr,
                            }),
                        );
                        let secs = time_chain(b, &first, &second, &x)?;
                        println!(
                            "chain tune {label} threads={threads:3} per_row={per_row:2} nr={nr} {:6.1} us",
                            secs * 1e6
                        );
                    }
                }
            }
            b.set_matvec_kernel(floe_wgpu::CodeDecode::Auto, None);
        }
    }
    Ok(lines)
}
