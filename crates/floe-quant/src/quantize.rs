//! Quantizing f32 values into a stored matrix.

use crate::{QuantError, QuantFormat};

/// Quantizes a row-major `[rows, cols]` f32 matrix into `format`'s storage.
pub fn quantize(format: QuantFormat, rows: usize, cols: usize, values: &[f32]) -> Result<Vec<u8>, QuantError> {
    let mut out = Vec::new();
    quantize_into(format, rows, cols, values, &mut out)?;
    Ok(out)
}

/// Like [`quantize`], appending to `out` (so a caller can reuse one buffer).
pub fn quantize_into(
    format: QuantFormat,
    rows: usize,
    cols: usize,
    values: &[f32],
    out: &mut Vec<u8>,
) -> Result<(), QuantError> {
    let _ = (format, rows, cols, values, out);
    todo!("floe-quant helper implements this")
}
