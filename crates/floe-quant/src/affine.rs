//! MLX affine quantization of one group, reproducing `mlx.core.quantize(mode="affine")`.
//!
//! For a group `w` of `group_size` values and `n = 2^bits − 1`, all in f32 as MLX computes:
//!
//! 1. `min`, `max` of the group; `edge` is whichever of them has the larger magnitude
//!    (`min` if `|min| > |max|`, else `max`).
//! 2. `scale = max((max − min) / n, 1e-7)`, negated when the edge is `max`, so that `edge`
//!    maps to `q = 0` and the group lies on the non-negative side of the grid.
//! 3. `q0 = rint(edge / scale)`; if `q0 ≠ 0` the scale is snapped to `scale = edge / q0` and
//!    `bias = edge`, so that `0.0` is exactly on the grid (`q = −q0`); otherwise `bias = 0`.
//! 4. `q = clamp(rint((w − bias) / scale), 0, n)`, `rint` rounding half to even.
//! 5. `scale` and `bias` are stored rounded (to nearest, ties to even) to the scale type; `q`
//!    is computed with the unrounded f32 scale and bias, exactly as MLX does.

/// The quantization parameters MLX chooses for one group, before rounding to the scale type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct GroupParams {
    /// The f32 scale (`value = q · scale + bias`), possibly negative.
    pub scale: f32,
    /// The f32 bias.
    pub bias: f32,
}

/// Chooses `scale` and `bias` for `group` with `bits`-bit values, as MLX does.
/// All values must be finite.
pub(crate) fn group_params(group: &[f32], bits: u8) -> GroupParams {
    let n_bins = ((1u32 << bits) - 1) as f32;
    let mut w_min = f32::INFINITY;
    let mut w_max = f32::NEG_INFINITY;
    for &v in group {
        w_max = w_max.max(v);
        w_min = w_min.min(v);
    }
    let min_is_edge = w_min.abs() > w_max.abs();
    let mut scale = ((w_max - w_min) / n_bins).max(1e-7);
    if !min_is_edge {
        scale = -scale;
    }
    let edge = if min_is_edge { w_min } else { w_max };
    let q0 = (edge / scale).round_ties_even();
    let mut bias = 0.0;
    if q0 != 0.0 {
        scale = edge / q0;
        bias = edge;
    }
    GroupParams { scale, bias }
}

/// The quantized value of `v` in a group with parameters `p` and `bits` bits.
#[inline(always)]
pub(crate) fn quantize_value(v: f32, p: GroupParams, bits: u8) -> u32 {
    let n_bins = ((1u32 << bits) - 1) as f32;
    ((v - p.bias) / p.scale)
        .round_ties_even()
        .clamp(0.0, n_bins) as u32
}

/// Packs `group` (whose length is a multiple of `32 / bits`) into little-endian u32 words
/// appended to `out`: value `i` of each word in bits `[i·bits, (i+1)·bits)`.
pub(crate) fn pack_group(group: &[f32], p: GroupParams, bits: u8, out: &mut [u8]) {
    let per_word = 32 / bits as usize;
    for (word_values, word_bytes) in group.chunks_exact(per_word).zip(out.chunks_exact_mut(4)) {
        let mut word = 0u32;
        for (i, &v) in word_values.iter().enumerate() {
            word |= quantize_value(v, p, bits) << (i * bits as usize);
        }
        word_bytes.copy_from_slice(&word.to_le_bytes());
    }
}
