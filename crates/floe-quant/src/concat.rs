//! Stacking stored matrices of one format and width into one taller matrix, as if their rows
//! had been stored together (HF's fused `gate_up_proj` from separate gate and up projections).

use crate::{QuantError, QuantFormat};

/// The stored bytes of the `[Σ rows, cols]` matrix whose rows are those of `parts` in order,
/// each part a `(rows, bytes)` pair of a `[rows, cols]` matrix in `format`. The formats with
/// several planes (affine: codes, scales, biases) get each plane concatenated. A part whose
/// byte count does not match its shape is an error naming it.
pub fn concat_rows(
    format: QuantFormat,
    cols: usize,
    parts: &[(usize, &[u8])],
) -> Result<Vec<u8>, QuantError> {
    let mut total_rows = 0usize;
    for (i, &(rows, bytes)) in parts.iter().enumerate() {
        let expected = format.matrix_bytes(rows, cols)?;
        if bytes.len() != expected {
            return Err(QuantError::Shape(format!(
                "part {i}: a [{rows}, {cols}] {format} matrix takes {expected} bytes, got {}",
                bytes.len()
            )));
        }
        total_rows = total_rows
            .checked_add(rows)
            .ok_or_else(|| QuantError::Shape("the stacked rows overflow usize".into()))?;
    }
    let mut out = Vec::with_capacity(format.matrix_bytes(total_rows, cols)?);
    let (planes, count) = format.row_planes(cols);
    for plane in 0..count {
        for &(rows, bytes) in parts {
            let start: usize = planes[..plane].iter().map(|p| p * rows).sum();
            out.extend_from_slice(&bytes[start..start + planes[plane] * rows]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{quantize, QuantMatrix};

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn stacked_rows_are_the_parts_rows_in_order() {
        let cols = 128;
        for name in ["q4", "q2", "q8_0", "affine8-g32-f16", "f16", "bf16", "f32"] {
            let format: QuantFormat = name.parse().unwrap();
            let a = quantize(format, 3, cols, &values(3 * cols, 1)).unwrap();
            let b = quantize(format, 5, cols, &values(5 * cols, 2)).unwrap();
            let stacked = concat_rows(format, cols, &[(3, &a), (5, &b)]).unwrap();
            let whole = QuantMatrix::new(format, 8, cols, &stacked).unwrap();
            let (ma, mb) = (
                QuantMatrix::new(format, 3, cols, &a).unwrap(),
                QuantMatrix::new(format, 5, cols, &b).unwrap(),
            );
            let row = |m: &QuantMatrix, r: usize| {
                let mut out = vec![0.0; cols];
                m.dequantize_row(r, &mut out);
                out
            };
            for r in 0..8 {
                let want = if r < 3 { row(&ma, r) } else { row(&mb, r - 3) };
                assert_eq!(row(&whole, r), want, "{name}: row {r}");
            }
        }
    }

    #[test]
    fn a_part_of_the_wrong_size_is_named() {
        let format = QuantFormat::Q8_0;
        let a = quantize(format, 2, 64, &values(128, 3)).unwrap();
        let err = concat_rows(format, 64, &[(2, &a), (3, &a)]).unwrap_err();
        assert!(err.to_string().contains("part 1"), "{err}");
    }
}
