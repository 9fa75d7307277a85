//! Cases of `softmax_topk`.

use super::upload;
use crate::conformance::compare::ok;
use crate::conformance::reference::{self, Mat};
use crate::conformance::{tolerance, Case};
use crate::Backend;

/// The router over `[t, experts]` logits: a random permutation of evenly spaced values in
/// `±range / 2` per row (no near-ties, which f32 and f64 could order differently), and when
/// `ties` a few exact ties among the top experts, which must go to the lower id.
#[allow(clippy::too_many_arguments)]
pub fn softmax_topk<B: Backend>(
    backend: &B,
    mut case: Case,
    t: usize,
    experts: usize,
    k: usize,
    renormalize: bool,
    ties: bool,
    range: f32,
) {
    let name = case.name();
    let mut logits = Vec::with_capacity(t * experts);
    for _ in 0..t {
        let mut rank: Vec<usize> = (0..experts).collect();
        for i in (1..experts).rev() {
            rank.swap(i, case.below(i + 1));
        }
        let mut row: Vec<f32> = rank
            .iter()
            .map(|&r| (r as f32 / experts as f32 - 0.5) * range)
            .collect();
        if ties {
            // Give the best expert's logit to two others, and the third best's to one more.
            let order = |row: &[f32], place: usize| {
                let mut ids: Vec<usize> = (0..experts).collect();
                ids.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                ids[place.min(experts - 1)]
            };
            let (best, third) = (order(&row, 0), order(&row, 2));
            for _ in 0..2 {
                let other = case.below(experts);
                row[other] = row[best];
            }
            let other = case.below(experts);
            row[other] = row[third];
        }
        logits.extend(row);
    }
    let lt = upload(backend, name, &logits, t, experts);
    let got = ok(
        name,
        "softmax_topk",
        backend.softmax_topk(&lt, k, renormalize),
    );
    let want = reference::softmax_topk(&Mat::from_f32(t, experts, &logits), k, renormalize);
    assert_eq!(
        got.len(),
        t,
        "{name}: softmax_topk returned {} routings for {t} rows",
        got.len()
    );
    for (row, (routing, (ids, weights))) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            &routing.experts, ids,
            "{name}: row {row}: experts (highest first, ties to the lower id)"
        );
        assert_eq!(
            routing.weights.len(),
            k,
            "{name}: row {row}: {} weights for k = {k}",
            routing.weights.len()
        );
        for (i, (&g, &w)) in routing.weights.iter().zip(weights).enumerate() {
            assert!(
                (g as f64 - w).abs() <= tolerance::router_tol(w),
                "{name}: row {row}: weight {i} (expert {}) is {g}, reference {w}",
                ids[i]
            );
        }
    }
}
