//! Portable scalar kernels: the reference every SIMD kernel is tested against.

use crate::convert::{bf16_bits_to_f32, f16_bits_to_f32, f32_at, u16_at, u32_at};
use crate::q8_0::{BLOCK, BLOCK_BYTES};
use crate::row::{AffineRow, Row};

/// Dequantizes `row` into `out` (`out.len()` = the row's length).
pub(crate) fn dequantize(row: Row<'_>, out: &mut [f32]) {
    match row {
        Row::F32(b) => out
            .iter_mut()
            .enumerate()
            .for_each(|(i, o)| *o = f32_at(b, i)),
        Row::F16(b) => out
            .iter_mut()
            .enumerate()
            .for_each(|(i, o)| *o = f16_bits_to_f32(u16_at(b, i))),
        Row::Bf16(b) => out
            .iter_mut()
            .enumerate()
            .for_each(|(i, o)| *o = bf16_bits_to_f32(u16_at(b, i))),
        Row::Q8_0(b) => {
            for (block, out) in b.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
                let d = f16_bits_to_f32(u16_at(block, 0));
                for (o, &q) in out.iter_mut().zip(&block[2..]) {
                    *o = d * q as i8 as f32;
                }
            }
        }
        Row::Affine(a) => dequantize_affine(a, out),
    }
}

/// `q · scale + bias`, multiplied then added (never fused), as MLX computes it in f32.
#[inline(always)]
pub(crate) fn affine_value(q: u32, scale: f32, bias: f32) -> f32 {
    let product = q as f32 * scale;
    product + bias
}

fn dequantize_affine(a: AffineRow<'_>, out: &mut [f32]) {
    let bits = a.bits as usize;
    let per_word = 32 / bits;
    let mask = (1u32 << bits) - 1;
    let words_per_group = a.group / per_word;
    for (g, out) in out.chunks_exact_mut(a.group).enumerate() {
        let (scale, bias) = a.scale_bias(g);
        for (w, out) in out.chunks_exact_mut(per_word).enumerate() {
            let word = u32_at(a.packed, g * words_per_group + w);
            for (i, o) in out.iter_mut().enumerate() {
                *o = affine_value((word >> (i * bits)) & mask, scale, bias);
            }
        }
    }
}

/// The dot product of two equally long f32 slices.
pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums: the same association a SIMD kernel uses, and faster than one chain.
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (ca, cb) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += ca[i] * cb[i];
        }
    }
    let mut sum = acc.iter().sum::<f32>();
    for (x, y) in a[chunks..].iter().zip(&b[chunks..]) {
        sum += x * y;
    }
    sum
}

/// The dot product of `row` with `x` (`x.len()` = the row's length).
pub(crate) fn dot(row: Row<'_>, x: &[f32]) -> f32 {
    match row {
        Row::F32(b) => x.iter().enumerate().map(|(i, v)| f32_at(b, i) * v).sum(),
        Row::F16(b) => x
            .iter()
            .enumerate()
            .map(|(i, v)| f16_bits_to_f32(u16_at(b, i)) * v)
            .sum(),
        Row::Bf16(b) => x
            .iter()
            .enumerate()
            .map(|(i, v)| bf16_bits_to_f32(u16_at(b, i)) * v)
            .sum(),
        Row::Q8_0(b) => b
            .chunks_exact(BLOCK_BYTES)
            .zip(x.chunks_exact(BLOCK))
            .map(|(block, x)| {
                let d = f16_bits_to_f32(u16_at(block, 0));
                let s: f32 = block[2..]
                    .iter()
                    .zip(x)
                    .map(|(&q, v)| q as i8 as f32 * v)
                    .sum();
                d * s
            })
            .sum(),
        Row::Affine(a) => {
            let sums = x.chunks_exact(a.group).map(|g| g.iter().sum::<f32>());
            dot_affine(a, x, sums)
        }
    }
}

/// The affine dot product `Σ_g scale_g · (q·x)_g + bias_g · Σx_g`, with `group_sums` the
/// per-group sums of `x`.
pub(crate) fn dot_affine(
    a: AffineRow<'_>,
    x: &[f32],
    group_sums: impl Iterator<Item = f32>,
) -> f32 {
    let bits = a.bits as usize;
    let per_word = 32 / bits;
    let mask = (1u32 << bits) - 1;
    let words_per_group = a.group / per_word;
    let mut total = 0.0f32;
    for ((g, x), x_sum) in x.chunks_exact(a.group).enumerate().zip(group_sums) {
        let (scale, bias) = a.scale_bias(g);
        let mut qx = 0.0f32;
        for (w, x) in x.chunks_exact(per_word).enumerate() {
            let word = u32_at(a.packed, g * words_per_group + w);
            for (i, v) in x.iter().enumerate() {
                qx += ((word >> (i * bits)) & mask) as f32 * v;
            }
        }
        total += scale * qx + bias * x_sum;
    }
    total
}
