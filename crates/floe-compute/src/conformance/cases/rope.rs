//! Cases of `rope` and `head_norm_rope`.

use super::{download, upload};
use crate::conformance::compare::{assert_close, ok};
use crate::conformance::formats::{parse_format, random_weight, RefWeight};
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
/// positions up to `max_position`: the f64 RMSNorm of each head, then RoPE, within
/// [`normed_rope_reference`]'s bounds.
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
    let positions = random_positions(&mut case, rows, max_position);
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
    let (want, tol) = normed_rope_reference(&x, cols, Some(&w), eps, &positions, &spec);
    let what = format!(
        "head_norm_rope of [{rows}, {heads} × {head_dim}] with a {format} weight, rotary_dim {rotary_dim}"
    );
    assert_close(name, &what, cols, &got, &want, |i| tol[i]);
}

/// Row 0 at `max_position`, the others at random positions up to it.
pub(crate) fn random_positions(case: &mut Case, rows: usize, max_position: u32) -> Vec<u32> {
    (0..rows)
        .map(|r| match r {
            0 => max_position,
            _ => case.below(max_position as usize + 1) as u32,
        })
        .collect()
}

/// The f64 RoPE of the rows `x` (`cols` wide, heads of `spec.head_dim`) after the RMSNorm of
/// each head with `w` (offset 0) when given, and each value's bound: the norm's
/// ([`tolerance::rms_norm_tol`]) carried through the rotation plus the rotation's own
/// ([`tolerance::rope_tol`]); 0 (bit-exact) for unnormed dimensions past `rotary_dim`.
pub(crate) fn normed_rope_reference(
    x: &[f32],
    cols: usize,
    w: Option<&RefWeight>,
    eps: f32,
    positions: &[u32],
    spec: &RopeSpec,
) -> (Vec<f64>, Vec<f64>) {
    let (rows, hd) = (x.len() / cols, spec.head_dim);
    let per_head = Mat::from_f32(x.len() / hd, hd, x);
    let (normed, norm_tol) = match w {
        Some(w) => {
            let normed = reference::rms_norm(&per_head, &w.values, eps as f64, 0.0);
            let tol = (0..x.len())
                .map(|i| {
                    let head = per_head.row(i / hd);
                    let mean = head.iter().map(|v| v * v).sum::<f64>() / hd as f64;
                    let inv = 1.0 / (mean + eps as f64).sqrt();
                    tolerance::rms_norm_tol(per_head.data[i], inv, 0.0, w.magnitude[i % hd])
                })
                .collect();
            (Mat::new(rows, cols, normed.data), tol)
        }
        None => (Mat::new(rows, cols, per_head.data), vec![0.0; x.len()]),
    };
    let want = reference::rope(&normed, positions, spec);
    let mut tol = norm_tol.clone();
    for (r, &pos) in positions.iter().enumerate() {
        for head in 0..cols / hd {
            let base = r * cols + head * hd;
            for (a, b, i) in reference::rope_pairs(spec) {
                let freq = (spec.theta as f64).powf(-2.0 * i as f64 / spec.rotary_dim as f64);
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
    (want.data, tol)
}
