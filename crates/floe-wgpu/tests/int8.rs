//! int8 activations (`WgpuOptions::int8_activations`): the integer-dot one-token products over
//! 4-bit affine and Q8_0 weights, plain (also split into row ranges) and expert-indexed, stay
//! within the bound of x's quantization, max |x| / 254 of each block of 32 per x value, times
//! the weights' code magnitudes; and they do differ from the exact f32 products, so the
//! quantized path is the one that ran.

mod common;

use std::sync::OnceLock;

use floe_compute::conformance::{formats, reference, Case};
use floe_compute::Backend;
use floe_quant::QuantFormat;
use floe_wgpu::{WgpuBackend, WgpuOptions};

const FORMATS: &[&str] = &["q4", "affine4-g32-f16", "affine4-g128-f32", "q8_0"];

fn int8() -> Option<&'static WgpuBackend> {
    static SLOT: OnceLock<Option<WgpuBackend>> = OnceLock::new();
    common::shared(&SLOT, || WgpuOptions {
        int8_activations: true,
        max_weight_chunk_bytes: Some(3000),
        ..WgpuOptions::default()
    })
}

/// x values: random in [-1, 1], with a block of zeros and a block 100 times larger.
fn xs(case: &mut Case, tokens: usize, cols: usize) -> Vec<f32> {
    let mut xs = case.values(tokens * cols, -1.0, 1.0);
    xs[32..64].fill(0.0);
    for v in &mut xs[64..96] {
        *v *= 100.0;
    }
    xs
}

/// The bound on |int8 result − exact| of row `w` (dequantized, `cols` values in groups of
/// `group`) times x row `x`: per block of 32, max |x| / 254 times Σ |s·q| of the block, where
/// |s·q| ≤ |w| + the range of its group (q8_0: s·q = w; affine: s·q = w − b, and |b| is within
/// the group's range of w), plus f32 rounding.
fn bound(w: &[f64], x: &[f32], group: usize) -> f64 {
    let mut total = 0.0;
    for (wb, xb) in w.chunks(32).zip(x.chunks(32)) {
        let step = xb.iter().fold(0f32, |m, v| m.max(v.abs())) as f64 / 254.0;
        total += step * wb.iter().map(|v| v.abs()).sum::<f64>();
    }
    for (wg, xg) in w.chunks(group).zip(x.chunks(group)) {
        let range = wg.iter().cloned().fold(f64::MIN, f64::max)
            - wg.iter().cloned().fold(f64::MAX, f64::min);
        let step = xg
            .chunks(32)
            .map(|xb| xb.iter().fold(0f32, |m, v| m.max(v.abs())) as f64 / 254.0)
            .fold(0.0, f64::max);
        total += step * range * wg.len() as f64;
    }
    let magnitude: f64 = w.iter().zip(x).map(|(a, b)| (a * *b as f64).abs()).sum();
    total + 1e-5 * magnitude + 1e-30
}

fn group_of(format: QuantFormat) -> usize {
    match format {
        QuantFormat::Affine(a) => a.group_size as usize,
        _ => 32,
    }
}

#[test]
fn int8_products_stay_within_the_quantization_bound() {
    let Some(b) = int8() else { return };
    let (rows, cols) = (45, 256);
    for &name in FORMATS {
        let format: QuantFormat = name.parse().unwrap();
        let mut case = Case::new("int8_matmul");
        let w = formats::random_weight(&mut case, format, rows, cols);
        let bw = b.weight(w.data.clone()).unwrap();
        for tokens in [1, 2, 4] {
            let xs = xs(&mut case, tokens, cols);
            common::poison(b);
            let x = b.upload(&xs, tokens, cols).unwrap();
            let got = b.download(&b.matmul(&x, &bw).unwrap()).unwrap();
            let want = reference::matmul(
                &reference::Mat::from_f32(tokens, cols, &xs),
                &reference::Mat::new(rows, cols, w.values.clone()),
            );
            let mut differs = false;
            for t in 0..tokens {
                for n in 0..rows {
                    let (g, e) = (got[t * rows + n] as f64, want.at(t, n));
                    let row = &w.values[n * cols..(n + 1) * cols];
                    let limit = bound(row, &xs[t * cols..(t + 1) * cols], group_of(format));
                    assert!(
                        (g - e).abs() <= limit,
                        "{name} T={tokens} [{t}, {n}]: got {g}, want {e}, bound {limit}"
                    );
                    differs |= (g - e).abs() > 1e-6 * e.abs().max(1.0);
                }
            }
            assert!(
                differs,
                "{name} T={tokens}: no error at all; did int8 x run?"
            );
        }
    }
}

#[test]
fn int8_expert_indexed_products_stay_within_the_quantization_bound() {
    let Some(b) = int8() else { return };
    let (experts, rows, cols, k, tokens) = (6, 20, 128, 2, 3);
    for &name in FORMATS {
        let format: QuantFormat = name.parse().unwrap();
        let mut case = Case::new("int8_selected");
        let ws: Vec<_> = (0..experts)
            .map(|_| formats::random_weight(&mut case, format, rows, cols))
            .collect();
        let stack = b
            .weight_stack(ws.iter().map(|w| w.data.clone()).collect())
            .unwrap();
        let ids = [[5u32, 0], [2, 2], [1, 4]];
        let mut routes = Vec::new();
        for pair in &ids {
            routes.extend(pair.iter().map(|&i| i as f32));
            routes.extend([0.5f32; 2]);
        }
        let xs = xs(&mut case, tokens, cols);
        common::poison(b);
        let x = b.upload(&xs, tokens, cols).unwrap();
        let r = b.upload(&routes, tokens, 2 * k).unwrap();
        let got = b
            .download(&b.matmul_selected(&x, &stack, &r).unwrap())
            .unwrap();
        let mut differs = false;
        for t in 0..tokens {
            for (j, &e) in ids[t].iter().enumerate() {
                let w = &ws[e as usize];
                let want = reference::matmul(
                    &reference::Mat::from_f32(1, cols, &xs[t * cols..(t + 1) * cols]),
                    &reference::Mat::new(rows, cols, w.values.clone()),
                );
                for n in 0..rows {
                    let (g, e) = (got[(t * k + j) * rows + n] as f64, want.at(0, n));
                    let row = &w.values[n * cols..(n + 1) * cols];
                    let limit = bound(row, &xs[t * cols..(t + 1) * cols], group_of(format));
                    assert!(
                        (g - e).abs() <= limit,
                        "{name} token {t} selection {j} row {n}: got {g}, want {e}, bound {limit}"
                    );
                    differs |= (g - e).abs() > 1e-6 * e.abs().max(1.0);
                }
            }
        }
        assert!(differs, "{name}: no error at all; did int8 x run?");
    }
}

/// Checks `got` (`[tokens, rows]`) against the f64 product of `xs` and `w`, within `bound`.
fn check_within_bound(
    what: &str,
    got: &[f32],
    w: &formats::RefWeight,
    xs: &[f32],
    rows: usize,
    cols: usize,
    group: usize,
) {
    let tokens = xs.len() / cols;
    let want = reference::matmul(
        &reference::Mat::from_f32(tokens, cols, xs),
        &reference::Mat::new(rows, cols, w.values.clone()),
    );
    for t in 0..tokens {
        for n in 0..rows {
            let (g, e) = (got[t * rows + n] as f64, want.at(t, n));
            let limit = bound(
                &w.values[n * cols..(n + 1) * cols],
                &xs[t * cols..(t + 1) * cols],
                group,
            );
            assert!(
                (g - e).abs() <= limit,
                "{what} [{t}, {n}]: got {g}, want {e}, bound {limit}"
            );
        }
    }
}

#[test]
fn int8_x_is_quantized_again_when_it_changes() {
    let Some(b) = int8() else { return };
    let (rows, cols) = (45, 256);
    let format: QuantFormat = "q4".parse().unwrap();
    let mut case = Case::new("int8_reuse");
    let w = formats::random_weight(&mut case, format, rows, cols);
    let bw = b.weight(w.data.clone()).unwrap();
    let mut xs = xs(&mut case, 2, cols);
    let mut x = b.upload(&xs, 2, cols).unwrap();
    // Two products of one x (the second reuses the quantization), then x changes in place.
    for _ in 0..2 {
        let got = b.download(&b.matmul(&x, &bw).unwrap()).unwrap();
        check_within_bound("same x", &got, &w, &xs, rows, cols, 64);
    }
    let row: Vec<f32> = case.values(cols, -3.0, 3.0);
    b.write_rows(&mut x, 1, &b.upload(&row, 1, cols).unwrap())
        .unwrap();
    xs[cols..].copy_from_slice(&row);
    let got = b.download(&b.matmul(&x, &bw).unwrap()).unwrap();
    check_within_bound("after write_rows", &got, &w, &xs, rows, cols, 64);
    // A new tensor, likely in the dropped one's pooled buffer.
    drop(x);
    let other: Vec<f32> = case.values(2 * cols, -2.0, 2.0);
    let x = b.upload(&other, 2, cols).unwrap();
    let got = b.download(&b.matmul(&x, &bw).unwrap()).unwrap();
    check_within_bound("a new x", &got, &w, &other, rows, cols, 64);
}
