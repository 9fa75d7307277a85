//! Reading and writing the scalar element types of the formats (f32, f16, bf16) as
//! little-endian bytes, without any alignment requirement on the byte slices.

use half::{bf16, f16};

use crate::ScaleType;

/// Reads the little-endian u16 at element index `i` of `bytes`.
#[inline(always)]
pub(crate) fn u16_at(bytes: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]])
}

/// Reads the little-endian u32 at element index `i` of `bytes`.
#[inline(always)]
pub(crate) fn u32_at(bytes: &[u8], i: usize) -> u32 {
    let b = &bytes[4 * i..4 * i + 4];
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads the little-endian f32 at element index `i` of `bytes`.
#[inline(always)]
pub(crate) fn f32_at(bytes: &[u8], i: usize) -> f32 {
    f32::from_bits(u32_at(bytes, i))
}

/// Widens bfloat16 bits to f32 (exact).
#[inline(always)]
pub(crate) fn bf16_bits_to_f32(bits: u16) -> f32 {
    f32::from_bits((bits as u32) << 16)
}

/// Widens IEEE f16 bits to f32 (exact).
#[inline(always)]
pub(crate) fn f16_bits_to_f32(bits: u16) -> f32 {
    f16::from_bits(bits).to_f32()
}

/// Reads element `i` of a little-endian array of `ty` values as f32 (exact).
#[inline(always)]
pub(crate) fn scale_at(ty: ScaleType, bytes: &[u8], i: usize) -> f32 {
    match ty {
        ScaleType::F32 => f32_at(bytes, i),
        ScaleType::F16 => f16_bits_to_f32(u16_at(bytes, i)),
        ScaleType::Bf16 => bf16_bits_to_f32(u16_at(bytes, i)),
    }
}

/// Rounds `v` to `ty` (round to nearest, ties to even) and returns the rounded value as f32.
#[inline]
pub(crate) fn round_to(ty: ScaleType, v: f32) -> f32 {
    match ty {
        ScaleType::F32 => v,
        ScaleType::F16 => f16::from_f32(v).to_f32(),
        ScaleType::Bf16 => bf16::from_f32(v).to_f32(),
    }
}

/// Appends `v` rounded to `ty` (round to nearest, ties to even) as little-endian bytes.
#[inline]
pub(crate) fn push_scale(ty: ScaleType, v: f32, out: &mut Vec<u8>) {
    match ty {
        ScaleType::F32 => out.extend_from_slice(&v.to_le_bytes()),
        ScaleType::F16 => out.extend_from_slice(&f16::from_f32(v).to_bits().to_le_bytes()),
        ScaleType::Bf16 => out.extend_from_slice(&bf16::from_f32(v).to_bits().to_le_bytes()),
    }
}
