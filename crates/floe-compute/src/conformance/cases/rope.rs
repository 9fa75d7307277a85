//! Cases of `rope`.

use super::{download, upload};
use crate::conformance::compare::{assert_close, ok};
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
