//! `dot_row`, `dot_row_prepared` and `dot_f32` against dequantize-then-dot in f64.

mod common;

use common::{all_formats, Rng};
use floe_quant::{dot_f32, quantize, QuantMatrix};
use proptest::prelude::*;

/// f32 accumulation of the affine form `Σ_g s_g·(q·x)_g + b_g·Σx_g` (or of `Σ w·x` for the
/// other formats) in any association errs by at most `(k − 1)·u·Σ|terms|` for `k` summands,
/// `u = 2^-24`. The terms are bounded by `M = Σ_g 3·max_g|ŵ|·Σ_g|x|` (`|b| = |ŵ|` of the edge
/// value, `|q·s| ≤ |ŵ| + |b|`), so `|dot − exact| ≤ (cols + 16)·u·M`.
fn check_dots(m: &QuantMatrix<'_>, x: &[f32]) -> Result<(), TestCaseError> {
    let cols = m.cols();
    let block = m.format().block_values().max(32);
    let prepared = m.prepare(x);
    let mut row = vec![0.0; cols];
    for r in 0..m.rows() {
        m.dequantize_row(r, &mut row);
        let exact: f64 = row.iter().zip(x).map(|(&w, &v)| w as f64 * v as f64).sum();
        let magnitude: f64 = row
            .chunks(block)
            .zip(x.chunks(block))
            .map(|(w, x)| {
                let w_max = w.iter().fold(0f64, |a, &v| a.max((v as f64).abs()));
                3.0 * w_max * x.iter().map(|v| (*v as f64).abs()).sum::<f64>()
            })
            .sum();
        let limit = (cols as f64 + 16.0) * 2f64.powi(-24) * magnitude + 1e-30;
        for (what, got) in [
            ("dot_row", m.dot_row(r, x)),
            ("dot_row_prepared", m.dot_row_prepared(r, &prepared)),
            ("dot_f32", dot_f32(&row, x)),
        ] {
            let err = (got as f64 - exact).abs();
            prop_assert!(
                err <= limit,
                "{} row {r} {what}: {got} vs {exact}: error {err} > {limit}",
                m.format()
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dots_match_f64_reference(format_index in 0usize..31, rows in 1usize..4, blocks in 1usize..6, seed in any::<u64>()) {
        let format = all_formats()[format_index];
        let cols = blocks * format.block_values().max(32);
        let mut rng = Rng::new(seed);
        let values = rng.weights(rows, cols);
        let bytes = quantize(format, rows, cols, &values).unwrap();
        let m = QuantMatrix::new(format, rows, cols, &bytes).unwrap();
        let x: Vec<f32> = (0..cols).map(|_| rng.uniform() * 3.0).collect();
        check_dots(&m, &x)?;
    }
}

/// Matrices whose bytes start at an odd address (a blob at any offset) read the same.
#[test]
fn unaligned_bytes_read_the_same() {
    let mut rng = Rng::new(17);
    for format in all_formats() {
        let (rows, cols) = (3, 128);
        let values = rng.weights(rows, cols);
        let bytes = quantize(format, rows, cols, &values).unwrap();
        let mut shifted = vec![0u8; bytes.len() + 1];
        shifted[1..].copy_from_slice(&bytes);
        let a = QuantMatrix::new(format, rows, cols, &bytes).unwrap();
        let b = QuantMatrix::new(format, rows, cols, &shifted[1..]).unwrap();
        let x: Vec<f32> = (0..cols).map(|_| rng.uniform()).collect();
        let (mut ra, mut rb) = (vec![0.0; rows * cols], vec![0.0; rows * cols]);
        a.dequantize(&mut ra);
        b.dequantize(&mut rb);
        assert_eq!(ra, rb, "{format}");
        for r in 0..rows {
            assert_eq!(a.dot_row(r, &x), b.dot_row(r, &x), "{format}");
        }
    }
}

#[test]
fn dot_f32_handles_every_length() {
    let mut rng = Rng::new(19);
    for len in 0..80 {
        let a: Vec<f32> = (0..len).map(|_| rng.uniform()).collect();
        let b: Vec<f32> = (0..len).map(|_| rng.uniform()).collect();
        let exact: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
        let limit = (len as f64 + 16.0)
            * 2f64.powi(-24)
            * a.iter()
                .zip(&b)
                .map(|(x, y)| (x * y).abs() as f64)
                .sum::<f64>();
        assert!(
            (dot_f32(&a, &b) as f64 - exact).abs() <= limit + 1e-30,
            "length {len}"
        );
    }
}

#[test]
#[should_panic(expected = "has 3 values but a row")]
fn a_wrong_input_length_names_the_lengths() {
    let bytes = quantize(floe_quant::QuantFormat::F32, 1, 4, &[1.0; 4]).unwrap();
    let m = QuantMatrix::new(floe_quant::QuantFormat::F32, 1, 4, &bytes).unwrap();
    m.dot_row(0, &[1.0; 3]);
}

#[test]
#[should_panic(expected = "prepared for a q4 matrix, this matrix is affine4-g32-bf16")]
fn a_prepared_input_of_another_format_is_refused() {
    let q4 = floe_quant::QuantFormat::Q4;
    let g32: floe_quant::QuantFormat = "affine4-g32-bf16".parse().unwrap();
    let values = Rng::new(23).weights(1, 64);
    let (a, b) = (
        quantize(q4, 1, 64, &values).unwrap(),
        quantize(g32, 1, 64, &values).unwrap(),
    );
    let (a, b) = (
        QuantMatrix::new(q4, 1, 64, &a).unwrap(),
        QuantMatrix::new(g32, 1, 64, &b).unwrap(),
    );
    let prepared = a.prepare(&[0.5; 64]);
    b.dot_row_prepared(0, &prepared);
}

#[test]
fn prepare_into_reuses_and_matches_prepare() {
    let mut rng = Rng::new(29);
    let mut reused = floe_quant::PreparedInput::new();
    for format in all_formats() {
        let cols = 256;
        let values = rng.weights(2, cols);
        let bytes = quantize(format, 2, cols, &values).unwrap();
        let m = QuantMatrix::new(format, 2, cols, &bytes).unwrap();
        let x: Vec<f32> = (0..cols).map(|_| rng.uniform()).collect();
        m.prepare_into(&x, &mut reused);
        let fresh = m.prepare(&x);
        assert_eq!(reused.x(), &x[..]);
        assert_eq!(reused.format(), format);
        for r in 0..2 {
            assert_eq!(
                m.dot_row_prepared(r, &reused),
                m.dot_row_prepared(r, &fresh),
                "{format}"
            );
        }
    }
}
