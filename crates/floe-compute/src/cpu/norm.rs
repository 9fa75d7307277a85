//! RMSNorm of each row.

use super::tensor::{CpuTensor, CpuWeight};
use super::weight_rows::dequantize_row;
use super::CpuBackend;

/// `x / sqrt(mean(x²) + eps) · (weight_offset + w)` per row (shapes checked by the caller).
pub(super) fn rms_norm(
    be: &CpuBackend,
    x: &CpuTensor,
    w: &CpuWeight,
    eps: f32,
    weight_offset: f32,
) -> CpuTensor {
    let cols = x.cols;
    let mut scale = vec![0.0f32; cols];
    dequantize_row(w, 0, &mut scale);
    for s in &mut scale {
        *s += weight_offset;
    }
    be.build_rows(x.rows, cols, 1, x.rows * cols, |row, out| {
        let input = x.row(row);
        let mean_square = be.simd.dot(input, input) / cols as f32;
        let inv = 1.0 / (mean_square + eps).sqrt();
        for ((o, v), s) in out.iter_mut().zip(input).zip(&scale) {
            *o = v * inv * s;
        }
    })
}
