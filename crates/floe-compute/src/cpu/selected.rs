//! The expert-indexed operations on the CPU: a stack is its entries' weights (zero-copy), a
//! routing tensor is `softmax_topk`'s result laid out as `[T, 2k]`, and `matmul_selected` groups
//! the selections by expert so that each expert's weight rows are read once for all of its
//! selections (with the same kernels, and so the same rounding, as `matmul`).

use std::collections::BTreeMap;

use super::matmul::matmul;
use super::router::softmax_topk;
use super::tensor::{CpuTensor, CpuWeight};
use super::CpuBackend;
use crate::{check, ComputeError};

/// A layer's experts for [`crate::Backend::matmul_selected`]: entry `i` is `entries[i]`.
#[derive(Clone, Debug)]
pub struct CpuWeightStack {
    pub(crate) entries: Vec<CpuWeight>,
}

impl CpuWeightStack {
    /// `[entries, rows, cols]`.
    pub fn shape(&self) -> [usize; 3] {
        let first = &self.entries[0];
        [self.entries.len(), first.rows, first.cols]
    }
}

/// The `[T, 2k]` routing tensor of `logits` (`k` checked by the caller).
pub(super) fn route_topk(logits: &CpuTensor, k: usize, renormalize: bool) -> CpuTensor {
    let routings = softmax_topk(logits, k, renormalize);
    let mut data = Vec::with_capacity(routings.len() * 2 * k);
    for r in &routings {
        data.extend(r.experts.iter().map(|&e| e as f32));
        data.extend_from_slice(&r.weights);
    }
    CpuTensor::new(routings.len(), 2 * k, data)
}

/// `[T·k, N]` (shapes checked by the caller; ids checked here).
pub(super) fn matmul_selected(
    be: &CpuBackend,
    x: &CpuTensor,
    stack: &CpuWeightStack,
    routes: &CpuTensor,
) -> Result<CpuTensor, ComputeError> {
    let k = routes.cols / 2;
    let selections = routes.rows * k;
    let per_selection = x.rows == selections;
    let mut by_expert: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for s in 0..selections {
        let id = check::selected_id(routes.row(s / k)[s % k], stack.entries.len())?;
        by_expert.entry(id).or_default().push(s);
    }
    let n = stack.entries[0].rows;
    let mut out = vec![0.0f32; selections * n];
    for (id, sels) in by_expert {
        let mut rows = Vec::with_capacity(sels.len() * x.cols);
        for &s in &sels {
            rows.extend_from_slice(x.row(if per_selection { s } else { s / k }));
        }
        let xs = CpuTensor::new(sels.len(), x.cols, rows);
        let ys = matmul(be, &xs, &stack.entries[id]);
        for (i, &s) in sels.iter().enumerate() {
            out[s * n..(s + 1) * n].copy_from_slice(ys.row(i));
        }
    }
    Ok(CpuTensor::new(selections, n, out))
}

/// `[T, C]`: each token's selected rows weighted and summed in selection order.
pub(super) fn combine_selected(y: &CpuTensor, routes: &CpuTensor) -> CpuTensor {
    let k = routes.cols / 2;
    let mut out = vec![0.0f32; routes.rows * y.cols];
    for (t, acc) in out.chunks_exact_mut(y.cols).enumerate() {
        let weights = &routes.row(t)[k..];
        for (j, &w) in weights.iter().enumerate() {
            for (a, &v) in acc.iter_mut().zip(y.row(t * k + j)) {
                *a += w * v;
            }
        }
    }
    CpuTensor::new(routes.rows, y.cols, out)
}
