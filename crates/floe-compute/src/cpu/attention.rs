//! Causal grouped-query attention over a KV cache, one (query row, head) pair per task.

use rayon::prelude::*;

use super::tensor::CpuTensor;
use super::CpuBackend;
use crate::AttentionSpec;

/// Attention of `q` over the caches (shapes checked by the caller).
pub(super) fn attention(
    be: &CpuBackend,
    q: &CpuTensor,
    k: &CpuTensor,
    v: &CpuTensor,
    spec: &AttentionSpec,
) -> CpuTensor {
    let (t, d) = (q.rows, spec.head_dim);
    let mut out = vec![0.0f32; t * q.cols];
    // Output row `t`, head `h` is chunk `t · n_heads + h` of `head_dim` values.
    let head = |scores: &mut Vec<f32>, (index, out): (usize, &mut [f32])| {
        let (row, h) = (index / spec.n_heads, index % spec.n_heads);
        let kv_col = (h / (spec.n_heads / spec.n_kv_heads)) * d;
        let query = &q.row(row)[h * d..(h + 1) * d];
        let visible = spec.past + row + 1;
        scores.clear();
        scores.extend(
            (0..visible).map(|s| be.simd.dot(query, &k.row(s)[kv_col..kv_col + d]) * spec.scale),
        );
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for s in scores.iter_mut() {
            *s = (*s - max).exp();
            sum += *s;
        }
        let inv = 1.0 / sum;
        for (s, p) in scores.iter().enumerate() {
            be.simd.axpy(out, p * inv, &v.row(s)[kv_col..kv_col + d]);
        }
    };
    let cost = t * spec.n_heads * (spec.past + t) * d;
    if be.parallel(cost) {
        be.install(|| {
            out.par_chunks_mut(d)
                .enumerate()
                .for_each_init(Vec::new, head)
        });
    } else {
        let mut scores = Vec::new();
        out.chunks_mut(d)
            .enumerate()
            .for_each(|item| head(&mut scores, item));
    }
    CpuTensor::new(t, q.cols, out)
}
