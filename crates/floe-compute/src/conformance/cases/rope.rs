//! Cases of `rope` and `head_norm_rope`.

use super::{download, upload};
use crate::conformance::compare::{assert_close, ok};
use crate::conformance::formats::{parse_format, random_weight};
use crate::conformance::reference::{self, Mat};
use crate::conformance::{tolerance, Case};
use crate::{Backend, RopeSpec};

/// RoPE of a random `[rows, heads · head_dim]` input, rotating `rotary_dim` dimensions of each
/// head, at random positions up to `max_position` (row 0 at `max_position`, the last row at 0).
/// Rotated pairs are compared within [`tolerance::rope_tol`]; the dimensions past `rotary_dim`
/// must come back bit-exact.
#[allow(clippy::too_many_arguments)]
pub fn rope<B: Backend>(
    backend: &B,
    mut case: Case,
    rows: usize,
    heads: usize,
    head_dim: usize,
    rotary_dim: usize,
    interleaved: bool,
    theta: f32,
    max_position: u32,
) {
    let name = case.name();
    let cols = heads * head_dim;
    let x = case.values(rows * cols, -1.0, 1.0);
    let mut positions: Vec<u32> = (0..rows)
        .map(|_| case.below(max_position as usize + 1) as u32)
        .collect();
    positions[0] = max_position;
    if rows > 1 {
        positions[rows - 1] = 0;
    }
    let spec = RopeSpec {
        head_dim,
        rotary_dim,
        theta,
        interleaved,
    };
    let xt = upload(backend, name, &x, rows, cols);
    let out = ok(name, "rope", backend.rope(&xt, &positions, &spec));
    let got = download(backend, name, "rope", &out, [rows, cols]);
    let xm = Mat::from_f32(rows, cols, &x);
    let want = reference::rope(&xm, &positions, &spec);
    // Each element's tolerance: its pair's bound, or 0 (bit-exact) outside the rotary part.
    let mut tol = vec![0.0f64; rows * cols];
    for (r, &pos) in positions.iter().enumerate() {
        for head in 0..heads {
            let base = r * cols + head * head_dim;
            for (a, b, i) in reference::rope_pairs(&spec) {
                let freq = (theta as f64).powf(-2.0 * i as f64 / rotary_dim as f64);
                let bound =
                    tolerance::rope_tol(xm.data[base + a], xm.data[base + b], pos as f64 * freq);
                tol[base + a] = bound;
                tol[base + b] = bound;
            }
        }
    }
    let what = format!(
        "rope of [{rows}, {heads} × {head_dim}], rotary_dim {rotary_dim}, {}, θ {theta}",
        if interleaved {
            "interleaved"
        } else {
            "NeoX halves"
        }
    );
    assert_close(name, &what, cols, &got, &want.data, |i| tol[i]);
}

/// `head_norm_rope` of a random `[rows, heads · head_dim]` input (head 0 of row 0 scaled down
/// to `1e-3`, where `eps` matters) with a random `[1, head_dim]` weight in `format`, at random
/// positions up to `max_position`: the f64 RMSNorm of each head, then RoPE. Each element may be
/// off by its norm's bound ([`tolerance::rms_norm_tol`]) carried through the rotation, plus the
/// rotation's own ([`tolerance::rope_tol`]).
#[allow(clippy::too_many_arguments)]
pub fn head_norm_rope<B: Backend>(
    backend: &B,
    mut case: Case,
    format: &str,
    rows: usize,
    heads: usize,
    head_dim: usize,
    rotary_dim: usize,
    interleaved: bool,
    max_position: u32,
) {
    let name = case.name();
    let cols = heads * head_dim;
    let w = random_weight(&mut case, parse_format(format), 1, head_dim);
    let mut x = case.values(rows * cols, -2.0, 2.0);
    x[..head_dim].iter_mut().for_each(|v| *v *= 1e-3);
    let positions: Vec<u32> = (0..rows)
        .map(|r| match r {
            0 => max_position,
            _ => case.below(max_position as usize + 1) as u32,
        })
        .collect();
    let spec = RopeSpec {
        head_dim,
        rotary_dim,
        theta: 1e6,
        interleaved,
    };
    let (eps, offset) = (1e-6f32, 0.0);
    let xt = upload(backend, name, &x, rows, cols);
    let wt = ok(name, "weight", backend.weight(w.data.clone()));
    let out = ok(
        name,
        "head_norm_rope",
        backend.head_norm_rope(xt, &wt, eps, offset, &positions, &spec),
    );
    let got = download(backend, name, "head_norm_rope", &out, [rows, cols]);
    let per_head = Mat::from_f32(rows * heads, head_dim, &x);
    let normed = reference::rms_norm(&per_head, &w.values, eps as f64, offset as f64);
    let normed = Mat::new(rows, cols, normed.data);
    let want = reference::rope(&normed, &positions, &spec);
    let norm_tol: Vec<f64> = (0..rows * cols)
        .map(|i| {
            let head = per_head.row(i / head_dim);
            let inv = 1.0
                / (head.iter().map(|v| v * v).sum::<f64>() / head_dim as f64 + eps as f64).sqrt();
            tolerance::rms_norm_tol(
                per_head.data[i],
                inv,
                offset as f64,
                w.magnitude[i % head_dim],
            )
        })
        .collect();
    let mut tol = norm_tol.clone();
    for (r, &pos) in positions.iter().enumerate() {
        for head in 0..heads {
            let base = r * cols + head * head_dim;
            for (a, b, i) in reference::rope_pairs(&spec) {
                let freq = (spec.theta as f64).powf(-2.0 * i as f64 / rotary_dim as f64);
                let (ia, ib) = (base + a, base + b);
                let bound =
                    tolerance::rope_tol(normed.data[ia], normed.data[ib], pos as f64 * freq)
                        + norm_tol[ia]
                        + norm_tol[ib];
                tol[ia] = bound;
                tol[ib] = bound;
            }
        }
    }
    let what = format!(
        "head_norm_rope of [{rows}, {heads} × {head_dim}] with a {format} weight, rotary_dim {rotary_dim}"
    );
    assert_close(name, &what, cols, &got, &want.data, |i| tol[i]);
}
