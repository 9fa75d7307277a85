//! Cases of the operations that read weights: `matmul`, `embed`, `rms_norm`, `add_rms_norm`.

use super::{download, upload};
use crate::conformance::compare::{assert_bits, assert_close, ok};
use crate::conformance::formats::{parse_format, random_weight, RefWeight};
use crate::conformance::reference::{self, Mat};
use crate::conformance::{tolerance, Case};
use crate::Backend;

/// `x · wᵀ` for `x` `[t, k]` and a random `[n, k]` weight in `format`.
pub fn matmul<B: Backend>(backend: &B, mut case: Case, format: &str, t: usize, k: usize, n: usize) {
    let name = case.name();
    let format = parse_format(format);
    let w = random_weight(&mut case, format, n, k);
    let x = case.values(t * k, -1.0, 1.0);
    let xt = upload(backend, name, &x, t, k);
    let wt = ok(name, "weight", backend.weight(w.data.clone()));
    assert_eq!(backend.weight_shape(&wt), [n, k], "{name}: weight_shape");
    let got = download(
        backend,
        name,
        "matmul",
        &ok(name, "matmul", backend.matmul(&xt, &wt)),
        [t, n],
    );
    let want = reference::matmul(&Mat::from_f32(t, k, &x), &Mat::new(n, k, w.values.clone()));
    let rtol = tolerance::matmul_rtol(format);
    let tol: Vec<f64> = (0..t * n)
        .map(|i| {
            let (row, col) = (i / n, i % n);
            let magnitude: f64 = (0..k)
                .map(|j| w.magnitude[col * k + j] * (x[row * k + j] as f64).abs())
                .sum();
            rtol * magnitude + 1e-30
        })
        .collect();
    assert_close(
        name,
        &format!("matmul of [{t}, {k}] by a [{n}, {k}] {format} weight"),
        n,
        &got,
        &want.data,
        |i| tol[i],
    );
}

/// `embed` of `count` random ids (repeats, the first and the last row included) from a random
/// `[vocab, hidden]` table in `format`.
pub fn embed<B: Backend>(
    backend: &B,
    mut case: Case,
    format: &str,
    vocab: usize,
    hidden: usize,
    count: usize,
) {
    let name = case.name();
    let format = parse_format(format);
    let table = random_weight(&mut case, format, vocab, hidden);
    let mut ids: Vec<u32> = (0..count).map(|_| case.below(vocab) as u32).collect();
    ids[0] = (vocab - 1) as u32;
    if count > 2 {
        ids[1] = 0;
        ids[2] = ids[0];
    }
    let wt = ok(name, "weight", backend.weight(table.data.clone()));
    let got = download(
        backend,
        name,
        "embed",
        &ok(name, "embed", backend.embed(&wt, &ids)),
        [count, hidden],
    );
    let at = |i: usize| ids[i / hidden] as usize * hidden + i % hidden;
    let what = format!("embed from a [{vocab}, {hidden}] {format} table");
    if format.is_quantized() {
        let want: Vec<f64> = (0..count * hidden).map(|i| table.values[at(i)]).collect();
        assert_close(name, &what, hidden, &got, &want, |i| {
            tolerance::embed_tol(format, table.magnitude[at(i)])
        });
    } else {
        let want: Vec<f32> = (0..count * hidden)
            .map(|i| table.values[at(i)] as f32)
            .collect();
        assert_bits(name, &what, hidden, &got, &want);
    }
}

/// `rms_norm` of a random `[rows, cols]` input (row 0 scaled down to `1e-3`, where `eps`
/// matters) with a random `[1, cols]` weight in `format`.
pub fn rms_norm<B: Backend>(
    backend: &B,
    mut case: Case,
    format: &str,
    rows: usize,
    cols: usize,
    weight_offset: f32,
) {
    let name = case.name();
    let format = parse_format(format);
    let w = random_weight(&mut case, format, 1, cols);
    let x = norm_input(&mut case, rows, cols);
    let eps = 1e-6f32;
    let xt = upload(backend, name, &x, rows, cols);
    let wt = ok(name, "weight", backend.weight(w.data.clone()));
    let out = ok(
        name,
        "rms_norm",
        backend.rms_norm(&xt, &wt, eps, weight_offset),
    );
    let got = download(backend, name, "rms_norm", &out, [rows, cols]);
    let what =
        format!("rms_norm of [{rows}, {cols}] with a {format} weight, offset {weight_offset}");
    check_rms_norm(name, &what, &got, &x, &w, eps, weight_offset, cols);
}

/// `add_rms_norm` of random `[rows, cols]` x and delta (row 0 of their sum about `1e-3`, where
/// `eps` matters) with a random `[1, cols]` weight in `format`: the sum is the f32 sum, bit for
/// bit, and the norm is that of the sum.
pub fn add_rms_norm<B: Backend>(
    backend: &B,
    mut case: Case,
    format: &str,
    rows: usize,
    cols: usize,
    weight_offset: f32,
) {
    let name = case.name();
    let format = parse_format(format);
    let w = random_weight(&mut case, format, 1, cols);
    let x = norm_input(&mut case, rows, cols);
    let delta = norm_input(&mut case, rows, cols);
    let sum: Vec<f32> = x.iter().zip(&delta).map(|(a, b)| a + b).collect();
    let eps = 1e-6f32;
    let xt = upload(backend, name, &x, rows, cols);
    let dt = upload(backend, name, &delta, rows, cols);
    let wt = ok(name, "weight", backend.weight(w.data.clone()));
    let (got_sum, out) = ok(
        name,
        "add_rms_norm",
        backend.add_rms_norm(&xt, &dt, &wt, eps, weight_offset),
    );
    let got_sum = download(backend, name, "add_rms_norm (sum)", &got_sum, [rows, cols]);
    assert_bits(name, "add_rms_norm: x + delta", cols, &got_sum, &sum);
    let got = download(backend, name, "add_rms_norm (norm)", &out, [rows, cols]);
    let what =
        format!("add_rms_norm of [{rows}, {cols}] with a {format} weight, offset {weight_offset}");
    check_rms_norm(name, &what, &got, &sum, &w, eps, weight_offset, cols);
}

/// Random `[rows, cols]` values in [-2, 2], row 0 scaled down to about `1e-3` (where a norm's
/// `eps` matters).
fn norm_input(case: &mut Case, rows: usize, cols: usize) -> Vec<f32> {
    let mut x = case.values(rows * cols, -2.0, 2.0);
    x[..cols].iter_mut().for_each(|v| *v *= 1e-3);
    x
}

/// Checks `got` against the f64 RMSNorm of the rows `x` (`cols` wide) with weight `w`.
#[allow(clippy::too_many_arguments)]
fn check_rms_norm(
    name: &str,
    what: &str,
    got: &[f32],
    x: &[f32],
    w: &RefWeight,
    eps: f32,
    weight_offset: f32,
    cols: usize,
) {
    let rows = x.len() / cols;
    let xm = Mat::from_f32(rows, cols, x);
    let want = reference::rms_norm(&xm, &w.values, eps as f64, weight_offset as f64);
    let inv: Vec<f64> = (0..rows)
        .map(|r| {
            1.0 / (xm.row(r).iter().map(|v| v * v).sum::<f64>() / cols as f64 + eps as f64).sqrt()
        })
        .collect();
    let tol = |i: usize| {
        tolerance::rms_norm_tol(
            xm.data[i],
            inv[i / cols],
            weight_offset as f64,
            w.magnitude[i % cols],
        )
    };
    assert_close(name, what, cols, got, &want.data, tol);
}
