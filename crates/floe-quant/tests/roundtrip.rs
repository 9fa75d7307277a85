//! Quantize → dequantize error bounds per format, and dequantize∘quantize idempotence.

mod common;

use common::{all_formats, rounding, Rng};
use floe_quant::{quantize, QuantFormat, QuantMatrix, ScaleType};
use proptest::prelude::*;

fn dequantized(format: QuantFormat, rows: usize, cols: usize, bytes: &[u8]) -> Vec<f32> {
    let m = QuantMatrix::new(format, rows, cols, bytes).unwrap();
    let mut out = vec![0.0; rows * cols];
    m.dequantize(&mut out);
    out
}

/// The largest error a value of `block` may have after a round trip through `format`.
///
/// - f32: exact.
/// - f16 / bf16: round to nearest: `|x − x̂| ≤ u·|x|` (+ half the smallest subnormal).
/// - q8_0: `d = max|x|/127`, `q = round(x/d)` never clamps, so `|x − d·q| ≤ d/2`; storing `d`
///   as f16 `d'` moves `d'·q` by `|q|·|d' − d| ≤ 127·(u·d + a)` (u = 2^-11, a = 2^-25).
/// - affine, `n = 2^bits − 1`, `R = max − min` of the group, `edge` = the extreme of larger
///   magnitude: values inside the grid round to within `|s|/2` with `|s| = |edge|/|q0|`,
///   `|q0| ≥ n|edge|/R − 1/2`, so `|s| ≤ R/(n − 1)` (as `|edge| ≥ R/2`) and `|s|/2 ≤ R/(n+1)` for
///   `n ≥ 3`. The snap of the scale can push the far end past `q = n`, where it is clamped; that
///   error is `R − n|s| ≤ R²/(2n|edge| + R) ≤ R/(n + 1)`. So `|x − x̂| ≤ R/(n + 1)` in exact
///   arithmetic. Storing `s` and `b = edge` in the scale type adds `n·|Δs| + |Δb| ≤
///   u·(n·R/(n − 1) + |edge|) + (n + 1)·a`. A group of range `R < n·1e-7` uses MLX's minimum scale
///   1e-7 instead: its error is at most `R + u·|edge|`, covered by adding `n·1e-7`.
///
/// Every bound gets a slack of 8 f32 roundings of the largest magnitude, for the f32 arithmetic.
fn bound(format: QuantFormat, block: &[f32]) -> f64 {
    let max_abs = block.iter().fold(0f64, |m, &v| m.max((v as f64).abs()));
    let slack = 8.0 * 2f64.powi(-24) * max_abs;
    slack
        + match format {
            QuantFormat::F32 => 0.0,
            QuantFormat::F16 | QuantFormat::Bf16 => {
                let ty = if format == QuantFormat::F16 {
                    ScaleType::F16
                } else {
                    ScaleType::Bf16
                };
                let (u, a) = rounding(ty);
                u * max_abs + a
            }
            QuantFormat::Q8_0 => {
                let (u, a) = rounding(ScaleType::F16);
                let d = max_abs / 127.0;
                d / 2.0 + 127.0 * (u * d + a)
            }
            QuantFormat::Affine(spec) => {
                let n = ((1u32 << spec.bits) - 1) as f64;
                let min = block.iter().fold(f64::INFINITY, |m, &v| m.min(v as f64));
                let max = block
                    .iter()
                    .fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                let range = max - min;
                let (u, a) = rounding(spec.scale);
                range / (n + 1.0) + u * (n * range / (n - 1.0) + max_abs) + (n + 1.0) * a + n * 1e-7
            }
        }
}

fn check_round_trip(
    format: QuantFormat,
    rows: usize,
    cols: usize,
    values: &[f32],
) -> Result<(), TestCaseError> {
    let bytes = quantize(format, rows, cols, values).unwrap();
    prop_assert_eq!(bytes.len(), format.matrix_bytes(rows, cols).unwrap());
    let back = dequantized(format, rows, cols, &bytes);
    let block = format.block_values();
    for (b, (orig, deq)) in values.chunks(block).zip(back.chunks(block)).enumerate() {
        // f16/bf16 bound each value relative to itself; blocks of one value do that.
        let limit = bound(format, orig);
        for (i, (&x, &y)) in orig.iter().zip(deq).enumerate() {
            let err = (x as f64 - y as f64).abs();
            prop_assert!(
                err <= limit,
                "{format}: value {x} at block {b} index {i} came back as {y}: error {err} > bound {limit}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip_error_is_bounded(
        format_index in 0usize..31,
        rows in 1usize..4,
        blocks in 1usize..4,
        seed in any::<u64>(),
        log_magnitude in -3.0f32..3.0,
        offset in -1.5f32..1.5,
    ) {
        let format = all_formats()[format_index];
        let cols = blocks * format.block_values().max(32);
        let mut rng = Rng::new(seed);
        let magnitude = 10f32.powf(log_magnitude);
        let values: Vec<f32> = (0..rows * cols).map(|_| (offset + rng.uniform()) * magnitude).collect();
        check_round_trip(format, rows, cols, &values)?;
    }
}

#[test]
fn all_formats_are_listed() {
    assert_eq!(all_formats().len(), 31);
}

#[test]
fn constant_and_zero_groups_round_trip() {
    for format in all_formats() {
        let cols = 128;
        for value in [0.0f32, 1.0, -2.5, 1e-3] {
            let values = vec![value; cols];
            check_round_trip(format, 1, cols, &values).unwrap();
        }
    }
}

/// Float formats and q8_0 are idempotent: quantizing the dequantized values reproduces the
/// bytes. (q8_0: the dequantized block's max is `127·d'` exactly, so the new scale is `d'`
/// and `q = round(d'·q / d')` is `q` again; this needs `d' ≠ 0`, true here.)
#[test]
fn floats_and_q8_0_are_idempotent() {
    let mut rng = Rng::new(7);
    for format in [
        QuantFormat::F32,
        QuantFormat::F16,
        QuantFormat::Bf16,
        QuantFormat::Q8_0,
    ] {
        for _ in 0..50 {
            let (rows, cols) = (3, 96);
            let values = rng.weights(rows, cols);
            let bytes = quantize(format, rows, cols, &values).unwrap();
            let again =
                quantize(format, rows, cols, &dequantized(format, rows, cols, &bytes)).unwrap();
            assert_eq!(bytes, again, "{format}");
        }
    }
}

/// Affine quantization is not idempotent in general: MLX derives the scale from the group's
/// extremes and snaps it so that 0 is on the grid, and after one round trip the extremes have
/// moved (the far end may land below `q = n`, and the stored scale and bias were rounded), so
/// the second quantization can choose another scale. What holds exactly: a group that already
/// lies on the grid the quantizer would choose (values `(q − k)·s` for a power-of-two scale `s`, `0 < k < n`, with both `q = 0` and `q = n` present) quantizes to bytes that
/// dequantize to the same values, and quantizing those again gives the same bytes.
#[test]
fn affine_is_idempotent_on_its_grid() {
    let mut rng = Rng::new(11);
    for format in all_formats() {
        let QuantFormat::Affine(spec) = format else {
            continue;
        };
        let n = (1u32 << spec.bits) - 1;
        let group = spec.group_size as usize;
        for _ in 0..20 {
            let (rows, cols) = (2, 2 * group);
            // A power-of-two scale: then `s`, and the bias `±k·s` or `±(n − k)·s` (at most 8
            // significant bits), are exact in every scale type.
            let s = 2f32.powi((rng.next_u64() % 12) as i32 - 8);
            let mut values = Vec::with_capacity(rows * cols);
            for _ in 0..rows * cols / group {
                let k = 1 + (rng.next_u64() % (n as u64 - 1)) as u32;
                for i in 0..group {
                    let q = match i {
                        0 => 0,
                        1 => n,
                        _ => (rng.next_u64() % (n as u64 + 1)) as u32,
                    };
                    values.push((q as f32 - k as f32) * s);
                }
            }
            let bytes = quantize(format, rows, cols, &values).unwrap();
            let back = dequantized(format, rows, cols, &bytes);
            assert_eq!(
                back, values,
                "{format}: a grid group must come back exactly"
            );
            let again = quantize(format, rows, cols, &back).unwrap();
            assert_eq!(bytes, again, "{format}");
        }
    }
}

/// On general data the second round trip stays within the bound of the first.
#[test]
fn affine_second_round_trip_is_bounded() {
    let mut rng = Rng::new(13);
    for format in all_formats()
        .into_iter()
        .filter(|f| matches!(f, QuantFormat::Affine(_)))
    {
        let (rows, cols) = (2, 256);
        let values = rng.weights(rows, cols);
        let once = dequantized(
            format,
            rows,
            cols,
            &quantize(format, rows, cols, &values).unwrap(),
        );
        check_round_trip(format, rows, cols, &once).unwrap();
    }
}
