//! Temporary probe (to be deleted).
use bytes::Bytes;
use floe_compute::cpu::CpuBackend;
use floe_compute::{Backend, WeightData};
use floe_quant::{quantize, QuantFormat};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let t: usize = args[1].parse().unwrap();
    let iters: usize = args[2].parse().unwrap();
    let fmt: QuantFormat = args[3].parse().unwrap();
    let (n, k) = (4096, 4096);
    let vals: Vec<f32> = (0..n * k)
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1)
        .collect();
    let bytes = quantize(fmt, n, k, &vals).unwrap();
    let be = CpuBackend::new(Some(1)).unwrap();
    let w = be
        .weight(WeightData {
            format: fmt,
            rows: n,
            cols: k,
            bytes: Bytes::from(bytes),
        })
        .unwrap();
    let x = be.upload(&vals[..t * k], t, k).unwrap();
    let start = std::time::Instant::now();
    for _ in 0..iters {
        std::hint::black_box(be.matmul(&x, &w).unwrap());
    }
    let s = start.elapsed().as_secs_f64() / iters as f64;
    println!(
        "T={t} {fmt}: {:.3} ms/iter, {:.2} GMAC/s",
        s * 1e3,
        (n * k * t) as f64 / s * 1e-9
    );
}
