//! Cases of `softmax_topk` and `softmax_topk_many`.

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
    let logits = router_logits(&mut case, t, experts, ties, range);
    let lt = upload(backend, name, &logits, t, experts);
    let got = ok(
        name,
        "softmax_topk",
        backend.softmax_topk(&lt, k, renormalize),
    );
    check_routings(name, &got, &logits, [t, experts], k, renormalize);
}

/// `softmax_topk_many` over requests of `(t, experts, k, renormalize)`: each request's routing
/// as `softmax_topk`'s reference, in request order; no requests give no routings.
pub fn softmax_topk_many<B: Backend>(
    backend: &B,
    mut case: Case,
    requests: &[(usize, usize, usize, bool)],
) {
    let name = case.name();
    let logits: Vec<Vec<f32>> = requests
        .iter()
        .map(|&(t, experts, _, _)| router_logits(&mut case, t, experts, true, 8.0))
        .collect();
    let tensors: Vec<B::Tensor> = logits
        .iter()
        .zip(requests)
        .map(|(l, &(t, experts, _, _))| upload(backend, name, l, t, experts))
        .collect();
    let asked: Vec<(&B::Tensor, usize, bool)> = tensors
        .iter()
        .zip(requests)
        .map(|(lt, &(_, _, k, renormalize))| (lt, k, renormalize))
        .collect();
    let got = ok(name, "softmax_topk_many", backend.softmax_topk_many(&asked));
    assert_eq!(
        got.len(),
        requests.len(),
        "{name}: {} results for {} requests",
        got.len(),
        requests.len()
    );
    for ((routings, l), &(t, experts, k, renormalize)) in got.iter().zip(&logits).zip(requests) {
        check_routings(name, routings, l, [t, experts], k, renormalize);
    }
    let none = ok(name, "softmax_topk_many", backend.softmax_topk_many(&[]));
    assert!(none.is_empty(), "{name}: routings for no requests");
    let (first, k, renormalize) = asked[0];
    assert!(
        backend
            .softmax_topk_many(&[(first, k, renormalize), (first, 0, renormalize)])
            .is_err(),
        "{name}: a request with k = 0 among valid ones must be refused"
    );
}

/// Router logits of `softmax_topk`'s case.
fn router_logits(case: &mut Case, t: usize, experts: usize, ties: bool, range: f32) -> Vec<f32> {
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
    logits
}

/// Checks `got` against the f64 reference router of `logits` (`[t, experts]`).
fn check_routings(
    name: &str,
    got: &[crate::Routing],
    logits: &[f32],
    [t, experts]: [usize; 2],
    k: usize,
    renormalize: bool,
) {
    let want = reference::softmax_topk(&Mat::from_f32(t, experts, logits), k, renormalize);
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
