//! Rotary position embedding.

use super::tensor::CpuTensor;
use super::CpuBackend;
use crate::RopeSpec;

/// Rotates each head of each row of `x` by its row's position (shapes checked by the caller).
pub(super) fn rope(
    be: &CpuBackend,
    x: &CpuTensor,
    positions: &[u32],
    spec: &RopeSpec,
) -> CpuTensor {
    let (d, rd) = (spec.head_dim, spec.rotary_dim);
    let half = rd / 2;
    // θ^(-2i / rotary_dim), and the angles below, in f64: an f32 angle of a large position is
    // off by many ulps.
    let inv_freq: Vec<f64> = (0..half)
        .map(|i| (spec.theta as f64).powf(-2.0 * i as f64 / rd as f64))
        .collect();
    be.build_rows(x.rows, x.cols, 1, x.rows * x.cols * 4, |row, out| {
        let input = x.row(row);
        out.copy_from_slice(input);
        let pos = positions[row] as f64;
        let rotation: Vec<(f32, f32)> = inv_freq
            .iter()
            .map(|f| {
                let (sin, cos) = (pos * f).sin_cos();
                (cos as f32, sin as f32)
            })
            .collect();
        for (head_in, head_out) in input.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            for (i, &(cos, sin)) in rotation.iter().enumerate() {
                let (a, b) = if spec.interleaved {
                    (2 * i, 2 * i + 1)
                } else {
                    (i, i + half)
                };
                let (xa, xb) = (head_in[a], head_in[b]);
                head_out[a] = xa * cos - xb * sin;
                head_out[b] = xb * cos + xa * sin;
            }
        }
    })
}
