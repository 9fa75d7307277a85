//! GGUF Q8_0 quantization of one block of 32 values, as ggml's `quantize_row_q8_0_ref`:
//! `d = max|x| / 127`, `q = round(x · (1/d))` (rounding half away from zero), `d` stored as f16.

use half::f16;

/// Values per Q8_0 block.
pub(crate) const BLOCK: usize = 32;
/// Bytes per Q8_0 block: an f16 scale then 32 signed bytes.
pub(crate) const BLOCK_BYTES: usize = 34;

/// The f32 scale `d = max|x| / 127` of a block (before rounding to f16).
pub(crate) fn block_scale(block: &[f32]) -> f32 {
    let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    amax / 127.0
}

/// Writes the 34 bytes of a block with scale `d` (see [`block_scale`]) into `out`.
pub(crate) fn write_block(block: &[f32], d: f32, out: &mut [u8]) {
    let inv = if d != 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&f16::from_f32(d).to_bits().to_le_bytes());
    for (q, &v) in out[2..BLOCK_BYTES].iter_mut().zip(block) {
        *q = ((v * inv).round().clamp(-127.0, 127.0) as i8) as u8;
    }
}
