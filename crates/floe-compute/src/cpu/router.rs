//! The MoE router: softmax over experts and top-k selection.

use super::tensor::CpuTensor;
use crate::Routing;

/// The `k` most probable experts of each row of `logits` (`k` checked by the caller), highest
/// probability first, ties broken by the lower expert id.
pub(super) fn softmax_topk(logits: &CpuTensor, k: usize, renormalize: bool) -> Vec<Routing> {
    let mut probs = vec![0.0f32; logits.cols];
    let mut order: Vec<u32> = Vec::with_capacity(logits.cols);
    (0..logits.rows)
        .map(|row| {
            let values = logits.row(row);
            let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for (p, v) in probs.iter_mut().zip(values) {
                *p = (v - max).exp();
                sum += *p;
            }
            for p in &mut probs {
                *p /= sum;
            }
            order.clear();
            order.extend(0..logits.cols as u32);
            let by_rank = |a: &u32, b: &u32| {
                probs[*b as usize]
                    .total_cmp(&probs[*a as usize])
                    .then(a.cmp(b))
            };
            if k < order.len() {
                order.select_nth_unstable_by(k - 1, by_rank);
            }
            order.truncate(k);
            order.sort_unstable_by(by_rank);
            let mut weights: Vec<f32> = order.iter().map(|&e| probs[e as usize]).collect();
            if renormalize {
                let total: f32 = weights.iter().sum();
                for w in &mut weights {
                    *w /= total;
                }
            }
            Routing {
                experts: order.clone(),
                weights,
            }
        })
        .collect()
}
