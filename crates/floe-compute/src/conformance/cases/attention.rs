//! Cases of `attention`.

use super::{download, upload};
use crate::conformance::compare::{assert_close, ok};
use crate::conformance::reference::{self, Mat};
use crate::conformance::{tolerance, Case};
use crate::{AttentionSpec, Backend};

/// Causal attention of `t` query rows at positions `past ..` with `n_heads` query heads over
/// `n_kv_heads` kv heads of `head_dim`, caches of `capacity` rows. Queries and keys are uniform in
/// `±gain` (a large gain makes scores large enough to overflow a softmax that does not subtract
/// the maximum); cache rows from `past + t` on hold NaN, so reading them poisons the result.
#[allow(clippy::too_many_arguments)]
pub fn attention<B: Backend>(
    backend: &B,
    mut case: Case,
    t: usize,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
    past: usize,
    capacity: usize,
    gain: f32,
) {
    let name = case.name();
    let (qc, kvc) = (n_heads * head_dim, n_kv_heads * head_dim);
    let valid = (past + t) * kvc;
    let q = case.values(t * qc, -gain, gain);
    let mut k = case.values(valid, -gain, gain);
    let mut v = case.values(valid, -1.0, 1.0);
    k.resize(capacity * kvc, f32::NAN);
    v.resize(capacity * kvc, f32::NAN);
    let spec = AttentionSpec {
        n_heads,
        n_kv_heads,
        head_dim,
        scale: 1.0 / (head_dim as f32).sqrt(),
        past,
    };
    let (qt, kt, vt) = (
        upload(backend, name, &q, t, qc),
        upload(backend, name, &k, capacity, kvc),
        upload(backend, name, &v, capacity, kvc),
    );
    let out = ok(name, "attention", backend.attention(&qt, &kt, &vt, &spec));
    let got = download(backend, name, "attention", &out, [t, qc]);
    let (qm, km, vm) = (
        Mat::from_f32(t, qc, &q),
        Mat::from_f32(capacity, kvc, &k),
        Mat::from_f32(capacity, kvc, &v),
    );
    let want = reference::attention(&qm, &km, &vm, &spec);
    let group = n_heads / n_kv_heads;
    let tol: Vec<f64> = (0..t * n_heads)
        .map(|i| {
            let (row, h) = (i / n_heads, i % n_heads);
            let kv = (h / group) * head_dim;
            let visible = past + row + 1;
            let v_max = (0..visible)
                .flat_map(|s| (0..head_dim).map(move |d| (s, d)))
                .map(|(s, d)| vm.at(s, kv + d).abs())
                .fold(0.0, f64::max);
            let s_abs = (0..visible)
                .map(|s| {
                    (0..head_dim)
                        .map(|d| (qm.at(row, h * head_dim + d) * km.at(s, kv + d)).abs())
                        .sum::<f64>()
                })
                .fold(0.0, f64::max)
                * spec.scale as f64;
            tolerance::attention_tol(v_max, s_abs)
        })
        .collect();
    let what = format!(
        "attention of {t} rows after {past}, {n_heads} heads over {n_kv_heads} kv heads of {head_dim}, score gain {gain}"
    );
    assert_close(name, &what, qc, &got, &want.data, |i| tol[i / head_dim]);
}
