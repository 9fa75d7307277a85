//! Reading rows of a weight through floe-quant's kernels.

use super::tensor::CpuWeight;

/// Dequantizes row `row` of `w` into `out` (`out.len() == w.cols`).
pub(crate) fn dequantize_row(w: &CpuWeight, row: usize, out: &mut [f32]) {
    w.matrix().dequantize_row(row, out);
}
