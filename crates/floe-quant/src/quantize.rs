//! Quantizing f32 values into a stored matrix.
//!
//! Quantization is row-local (every block/group lies inside one row), so quantizing rows
//! `r0..r1` on their own produces exactly those rows' bytes in each plane of the whole
//! matrix's storage (see [`QuantFormat::row_plane_bytes`]): a converter may quantize a large
//! matrix a chunk of rows at a time.

use half::{bf16, f16};

use crate::affine::{group_params, pack_group};
use crate::convert::{push_scale, round_to};
use crate::q8_0::{block_scale, write_block, BLOCK, BLOCK_BYTES};
use crate::{AffineSpec, QuantError, QuantFormat};

/// Quantizes a row-major `[rows, cols]` f32 matrix into `format`'s storage.
///
/// Fails with [`QuantError::Shape`] if `cols` is not storable in the format or
/// `values.len() != rows · cols`, and with [`QuantError::Unrepresentable`] if a value cannot be
/// stored: a NaN or infinity for the quantized formats (it would poison its whole block), or a
/// finite value (or a block scale or bias) beyond the range of an f16/bf16 element.
pub fn quantize(
    format: QuantFormat,
    rows: usize,
    cols: usize,
    values: &[f32],
) -> Result<Vec<u8>, QuantError> {
    let mut out = Vec::new();
    quantize_into(format, rows, cols, values, &mut out)?;
    Ok(out)
}

/// Like [`quantize`], appending to `out` (so a caller can reuse one buffer). On error `out` is
/// left as it was.
pub fn quantize_into(
    format: QuantFormat,
    rows: usize,
    cols: usize,
    values: &[f32],
    out: &mut Vec<u8>,
) -> Result<(), QuantError> {
    let total = format.matrix_bytes(rows, cols)?;
    if rows.checked_mul(cols) != Some(values.len()) {
        return Err(QuantError::Shape(format!(
            "quantizing a [{rows}, {cols}] matrix needs {} values, got {}",
            rows.saturating_mul(cols),
            values.len()
        )));
    }
    let start = out.len();
    out.reserve(total);
    let result = match format {
        QuantFormat::F32 => {
            values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
            Ok(())
        }
        QuantFormat::F16 => quantize_half(format, cols, values, out, |v| {
            let h = f16::from_f32(v);
            (h.to_bits(), h.is_infinite())
        }),
        QuantFormat::Bf16 => quantize_half(format, cols, values, out, |v| {
            let h = bf16::from_f32(v);
            (h.to_bits(), h.is_infinite())
        }),
        QuantFormat::Q8_0 => quantize_q8_0(cols, values, out),
        QuantFormat::Affine(spec) => quantize_affine(format, spec, rows, cols, values, out),
    };
    if result.is_err() {
        out.truncate(start);
    }
    debug_assert!(result.is_err() || out.len() == start + total);
    result
}

/// Where value `index` of a row-major matrix with `cols` columns sits, for error messages.
fn position(index: usize, cols: usize) -> String {
    format!("row {}, column {}", index / cols, index % cols)
}

fn check_finite(format: QuantFormat, cols: usize, values: &[f32]) -> Result<(), QuantError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(QuantError::Unrepresentable(format!(
            "cannot quantize {} to {format}: the value at {} is not finite",
            values[i],
            position(i, cols)
        ))),
    }
}

fn quantize_half(
    format: QuantFormat,
    cols: usize,
    values: &[f32],
    out: &mut Vec<u8>,
    convert: impl Fn(f32) -> (u16, bool),
) -> Result<(), QuantError> {
    for (i, &v) in values.iter().enumerate() {
        let (bits, infinite) = convert(v);
        if infinite && v.is_finite() {
            return Err(QuantError::Unrepresentable(format!(
                "the value {v} at {} is out of {format} range",
                position(i, cols)
            )));
        }
        out.extend_from_slice(&bits.to_le_bytes());
    }
    Ok(())
}

fn quantize_q8_0(cols: usize, values: &[f32], out: &mut Vec<u8>) -> Result<(), QuantError> {
    check_finite(QuantFormat::Q8_0, cols, values)?;
    let mut block_bytes = [0u8; BLOCK_BYTES];
    for (b, block) in values.chunks_exact(BLOCK).enumerate() {
        let d = block_scale(block);
        if f16::from_f32(d).is_infinite() {
            return Err(QuantError::Unrepresentable(format!(
                "the block at {} has max |x| = {}: its q8_0 scale {d} is out of f16 range",
                position(b * BLOCK, cols),
                d * 127.0
            )));
        }
        write_block(block, d, &mut block_bytes);
        out.extend_from_slice(&block_bytes);
    }
    Ok(())
}

fn quantize_affine(
    format: QuantFormat,
    spec: AffineSpec,
    rows: usize,
    cols: usize,
    values: &[f32],
    out: &mut Vec<u8>,
) -> Result<(), QuantError> {
    check_finite(format, cols, values)?;
    let group = spec.group_size as usize;
    let planes = format.row_plane_bytes(cols);
    let packed_start = out.len();
    out.resize(packed_start + rows * planes[0], 0);
    let mut scales = Vec::with_capacity(rows * planes[1]);
    let mut biases = Vec::with_capacity(rows * planes[2]);
    let packed_group_bytes = group * spec.bits as usize / 8;
    let packed = &mut out[packed_start..];
    for (g, (values, packed)) in values
        .chunks_exact(group)
        .zip(packed.chunks_exact_mut(packed_group_bytes))
        .enumerate()
    {
        let p = group_params(values, spec.bits);
        let (scale, bias) = (round_to(spec.scale, p.scale), round_to(spec.scale, p.bias));
        if scale.is_infinite() || bias.is_infinite() {
            return Err(QuantError::Unrepresentable(format!(
                "the group at {} needs scale {} and bias {}, out of {} range",
                position(g * group, cols),
                p.scale,
                p.bias,
                spec.scale.name()
            )));
        }
        pack_group(values, p, spec.bits, packed);
        push_scale(spec.scale, p.scale, &mut scales);
        push_scale(spec.scale, p.bias, &mut biases);
    }
    out.extend_from_slice(&scales);
    out.extend_from_slice(&biases);
    Ok(())
}
