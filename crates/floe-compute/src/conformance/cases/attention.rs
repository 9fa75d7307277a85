//! Cases of `attention` and `qkv_prologue`.

use super::rope::{normed_rope_reference, random_positions};
use super::{download, upload};
use crate::conformance::compare::{assert_bits, assert_close, ok};
use crate::conformance::formats::{parse_format, random_weight};
use crate::conformance::reference::{self, Mat};
use crate::conformance::{tolerance, Case};
use crate::{AttentionSpec, Backend, QkvPrologue, RopeSpec};

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

/// `qkv_prologue` of a random `[t, (n_heads + 2 · n_kv_heads) · head_dim]` stacked projection
/// at random positions, with per-head norms in `format` (or none for `"none"`) and RoPE
/// rotating `rotary_dim` dimensions, into random caches of `capacity` rows at row `past`: q
/// and the new cache rows must be the f64 reference's within [`super::rope`]'s bounds (v's
/// rows bit-exact), and every other cache row must come back unchanged.
#[allow(clippy::too_many_arguments)]
pub fn qkv_prologue<B: Backend>(
    backend: &B,
    mut case: Case,
    format: &str,
    t: usize,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
    rotary_dim: usize,
    past: usize,
    capacity: usize,
) {
    let name = case.name();
    let (qw, kvw) = (n_heads * head_dim, n_kv_heads * head_dim);
    let cols = qw + 2 * kvw;
    let norms = (format != "none").then(|| {
        let format = parse_format(format);
        (
            random_weight(&mut case, format, 1, head_dim),
            random_weight(&mut case, format, 1, head_dim),
        )
    });
    let qkv = case.values(t * cols, -2.0, 2.0);
    let positions = random_positions(&mut case, t, (past + 3000) as u32);
    let (k0, v0) = (
        case.values(capacity * kvw, -1.0, 1.0),
        case.values(capacity * kvw, -1.0, 1.0),
    );
    let rope = RopeSpec {
        head_dim,
        rotary_dim,
        theta: 1e6,
        interleaved: false,
    };
    let eps = 1e-6f32;
    let weights = norms.as_ref().map(|(q, k)| {
        (
            ok(name, "q norm", backend.weight(q.data.clone())),
            ok(name, "k norm", backend.weight(k.data.clone())),
        )
    });
    let spec = QkvPrologue {
        norms: weights.as_ref().map(|(q, k)| (q, k)),
        norm_eps: eps,
        norm_offset: 0.0,
        positions: &positions,
        rope,
        attention: AttentionSpec {
            n_heads,
            n_kv_heads,
            head_dim,
            scale: 1.0,
            past,
        },
    };
    let xt = upload(backend, name, &qkv, t, cols);
    let mut kc = upload(backend, name, &k0, capacity, kvw);
    let mut vc = upload(backend, name, &v0, capacity, kvw);
    let q = ok(
        name,
        "qkv_prologue",
        backend.qkv_prologue(&xt, &spec, &mut kc, &mut vc),
    );
    let part = |start: usize, width: usize| -> Vec<f32> {
        qkv.chunks(cols)
            .flat_map(|row| row[start..start + width].to_vec())
            .collect()
    };
    let what = format!("qkv_prologue, {n_heads}/{n_kv_heads} heads of {head_dim}, {format} norms");
    let (qn, kn) = match &norms {
        Some((q, k)) => (Some(q), Some(k)),
        None => (None, None),
    };
    let (want_q, tol_q) = normed_rope_reference(&part(0, qw), qw, qn, eps, &positions, &rope);
    let got_q = download(backend, name, "qkv_prologue (q)", &q, [t, qw]);
    assert_close(name, &format!("{what}: q"), qw, &got_q, &want_q, |i| {
        tol_q[i]
    });
    let (want_k, tol_k) = normed_rope_reference(&part(qw, kvw), kvw, kn, eps, &positions, &rope);
    let got_k = download(
        backend,
        name,
        "qkv_prologue (k cache)",
        &kc,
        [capacity, kvw],
    );
    let got_v = download(
        backend,
        name,
        "qkv_prologue (v cache)",
        &vc,
        [capacity, kvw],
    );
    let new = past * kvw..(past + t) * kvw;
    assert_close(
        name,
        &format!("{what}: k"),
        kvw,
        &got_k[new.clone()],
        &want_k,
        |i| tol_k[i],
    );
    assert_bits(
        name,
        &format!("{what}: v"),
        kvw,
        &got_v[new.clone()],
        &part(qw + kvw, kvw),
    );
    for (cache, got, was) in [("k", &got_k, &k0), ("v", &got_v, &v0)] {
        let untouched = |r: std::ops::Range<usize>| (got[r.clone()].to_vec(), was[r].to_vec());
        for (g, w) in [untouched(0..new.start), untouched(new.end..capacity * kvw)] {
            assert_bits(
                name,
                &format!("{what}: {cache} cache rows outside the new ones"),
                kvw,
                &g,
                &w,
            );
        }
    }
}
