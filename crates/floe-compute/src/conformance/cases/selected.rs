//! Cases of the expert-indexed operations: `route_topk`, `matmul_selected` (through routes from
//! `route_topk` and through uploaded routes with repeated and extreme ids), `combine_selected`,
//! and their bad operands.

use super::{download, upload};
use crate::conformance::compare::{assert_bits, assert_close, ok};
use crate::conformance::formats::{parse_format, random_weight, RefWeight};
use crate::conformance::reference::{self, Mat};
use crate::conformance::{tolerance, Case};
use crate::{Backend, ComputeError};

/// `route_topk` of random `[t, experts]` logits (evenly spaced values, no near-ties): the ids
/// must equal `softmax_topk`'s reference exactly (as f32) and the weights within the router
/// tolerance.
pub fn route_topk<B: Backend>(
    backend: &B,
    mut case: Case,
    t: usize,
    experts: usize,
    k: usize,
    renormalize: bool,
) {
    let name = case.name();
    let logits = spaced_logits(&mut case, t, experts, 8.0);
    let lt = upload(backend, name, &logits, t, experts);
    let routes = ok(name, "route_topk", backend.route_topk(&lt, k, renormalize));
    let got = download(backend, name, "route_topk", &routes, [t, 2 * k]);
    let want = reference::softmax_topk(&Mat::from_f32(t, experts, &logits), k, renormalize);
    for (row, (ids, weights)) in want.iter().enumerate() {
        let got_row = &got[row * 2 * k..(row + 1) * 2 * k];
        let want_ids: Vec<f32> = ids.iter().map(|&e| e as f32).collect();
        assert_bits(
            name,
            &format!("row {row}: expert ids"),
            k,
            &got_row[..k],
            &want_ids,
        );
        assert_close(
            name,
            &format!("row {row}: weights"),
            k,
            &got_row[k..],
            weights,
            |i| tolerance::router_tol(weights[i]),
        );
    }
}

/// `matmul_selected` over a stack of `experts` random `[n, kdim]` weights in `format`, for `t`
/// tokens routed to `k` experts each. `per_selection`: `x` has one row per selection, else one
/// per token. `uploaded`: the routes are uploaded (ids repeated across tokens, the first and
/// last expert included) instead of coming from `route_topk`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_selected<B: Backend>(
    backend: &B,
    mut case: Case,
    format: &str,
    t: usize,
    kdim: usize,
    n: usize,
    experts: usize,
    k: usize,
    per_selection: bool,
    uploaded: bool,
) {
    let name = case.name();
    let format = parse_format(format);
    let weights: Vec<RefWeight> = (0..experts)
        .map(|_| random_weight(&mut case, format, n, kdim))
        .collect();
    let stack = ok(
        name,
        "weight_stack",
        backend.weight_stack(weights.iter().map(|w| w.data.clone()).collect()),
    );
    assert_eq!(
        backend.weight_stack_shape(&stack),
        [experts, n, kdim],
        "{name}: weight_stack_shape"
    );
    let (routes, ids) = if uploaded {
        let mut ids: Vec<usize> = (0..t * k).map(|_| case.below(experts)).collect();
        ids[0] = experts - 1;
        if ids.len() > 1 {
            ids[1] = 0;
        }
        if t > 1 {
            // The same expert for two tokens.
            ids[k] = ids[0];
        }
        let mut data = Vec::with_capacity(t * 2 * k);
        for row in ids.chunks_exact(k) {
            data.extend(row.iter().map(|&e| e as f32));
            data.extend((0..k).map(|_| case.uniform(0.0, 1.0)));
        }
        (upload(backend, name, &data, t, 2 * k), ids)
    } else {
        let logits = spaced_logits(&mut case, t, experts, 8.0);
        let lt = upload(backend, name, &logits, t, experts);
        let routes = ok(name, "route_topk", backend.route_topk(&lt, k, true));
        let want = reference::softmax_topk(&Mat::from_f32(t, experts, &logits), k, true);
        let ids = want
            .iter()
            .flat_map(|(ids, _)| ids.iter().map(|&e| e as usize))
            .collect();
        (routes, ids)
    };
    let x_rows = if per_selection { t * k } else { t };
    let x = case.values(x_rows * kdim, -1.0, 1.0);
    let xt = upload(backend, name, &x, x_rows, kdim);
    let got = download(
        backend,
        name,
        "matmul_selected",
        &ok(
            name,
            "matmul_selected",
            backend.matmul_selected(&xt, &stack, &routes),
        ),
        [t * k, n],
    );
    let rtol = tolerance::matmul_rtol(format);
    let mut want = Vec::with_capacity(t * k * n);
    let mut tol = Vec::with_capacity(t * k * n);
    for (s, &id) in ids.iter().enumerate() {
        let xr = if per_selection { s } else { s / k };
        let xrow = &x[xr * kdim..(xr + 1) * kdim];
        let w = &weights[id];
        let product = reference::matmul(
            &Mat::from_f32(1, kdim, xrow),
            &Mat::new(n, kdim, w.values.clone()),
        );
        want.extend_from_slice(&product.data);
        for col in 0..n {
            let magnitude: f64 = (0..kdim)
                .map(|j| w.magnitude[col * kdim + j] * (xrow[j] as f64).abs())
                .sum();
            tol.push(rtol * magnitude + 1e-30);
        }
    }
    assert_close(
        name,
        &format!(
            "matmul_selected of [{x_rows}, {kdim}] by {experts} [{n}, {kdim}] {format} weights, {k} per token"
        ),
        n,
        &got,
        &want,
        |i| tol[i],
    );
}

/// `combine_selected` of random `[t·k, c]` rows with uploaded routes (random weights, some
/// negative).
pub fn combine_selected<B: Backend>(backend: &B, mut case: Case, t: usize, k: usize, c: usize) {
    let name = case.name();
    let y = case.values(t * k * c, -2.0, 2.0);
    let mut routes = Vec::with_capacity(t * 2 * k);
    for _ in 0..t {
        routes.extend((0..k).map(|j| j as f32));
        routes.extend((0..k).map(|_| case.uniform(-0.5, 1.0)));
    }
    let yt = upload(backend, name, &y, t * k, c);
    let rt = upload(backend, name, &routes, t, 2 * k);
    let got = download(
        backend,
        name,
        "combine_selected",
        &ok(name, "combine_selected", backend.combine_selected(&yt, &rt)),
        [t, c],
    );
    let mut want = vec![0.0f64; t * c];
    let mut magnitude = vec![0.0f64; t * c];
    for tok in 0..t {
        for j in 0..k {
            let w = routes[tok * 2 * k + k + j] as f64;
            for col in 0..c {
                let v = w * y[(tok * k + j) * c + col] as f64;
                want[tok * c + col] += v;
                magnitude[tok * c + col] += v.abs();
            }
        }
    }
    assert_close(
        name,
        &format!("combine_selected of [{}, {c}] with k = {k}", t * k),
        c,
        &got,
        &want,
        |i| tolerance::scatter_add_tol(magnitude[i]) + 1e-30,
    );
}

/// Bad operands of `weight_stack`, `route_topk`, `matmul_selected` and `combine_selected`, and
/// an expert id outside the stack: refused, or (on a backend that cannot see ids without a
/// sync) a NaN row while the other rows stay right.
pub fn selected_errors<B: Backend>(backend: &B, mut case: Case) {
    let name = case.name();
    let format = parse_format("q8_0");
    let a = random_weight(&mut case, format, 8, 64);
    let b = random_weight(&mut case, format, 8, 32);
    let refused = |what: &str, op: &str, result: Result<(), ComputeError>| match result {
        Err(ComputeError::Shape { op: got, .. }) if got == op => {}
        Err(e) => panic!("{name}: {op} refused {what} with the wrong error: {e:?}"),
        Ok(()) => panic!("{name}: {op} accepted {what}"),
    };
    refused(
        "no parts",
        "weight_stack",
        backend.weight_stack(Vec::new()).map(|_| ()),
    );
    refused(
        "parts of different shapes",
        "weight_stack",
        backend
            .weight_stack(vec![a.data.clone(), b.data.clone()])
            .map(|_| ()),
    );
    let stack = ok(
        name,
        "weight_stack",
        backend.weight_stack(vec![a.data.clone(), a.data.clone(), a.data.clone()]),
    );
    let logits = upload(backend, name, &case.values(2 * 3, -1.0, 1.0), 2, 3);
    refused(
        "k = 4 of 3 experts",
        "softmax_topk",
        backend.route_topk(&logits, 4, true).map(|_| ()),
    );
    let routes = ok(name, "route_topk", backend.route_topk(&logits, 2, true));
    let odd = upload(backend, name, &case.values(2 * 3, 0.0, 1.0), 2, 3);
    let x = upload(backend, name, &case.values(2 * 64, -1.0, 1.0), 2, 64);
    let x3 = upload(backend, name, &case.values(3 * 64, -1.0, 1.0), 3, 64);
    let x_narrow = upload(backend, name, &case.values(2 * 32, -1.0, 1.0), 2, 32);
    refused(
        "routes of 3 columns",
        "matmul_selected",
        backend.matmul_selected(&x, &stack, &odd).map(|_| ()),
    );
    refused(
        "x of 3 rows for 2 tokens of 2 selections",
        "matmul_selected",
        backend.matmul_selected(&x3, &stack, &routes).map(|_| ()),
    );
    refused(
        "x of 32 columns for [8, 64] weights",
        "matmul_selected",
        backend
            .matmul_selected(&x_narrow, &stack, &routes)
            .map(|_| ()),
    );
    let y3 = upload(backend, name, &case.values(3 * 8, -1.0, 1.0), 3, 8);
    refused(
        "y of 3 rows for 4 selections",
        "combine_selected",
        backend.combine_selected(&y3, &routes).map(|_| ()),
    );
    refused(
        "routes of 3 columns",
        "combine_selected",
        backend.combine_selected(&y3, &odd).map(|_| ()),
    );

    // Token 0 names expert 7 of 3; token 1 is valid.
    let bad = upload(
        backend,
        name,
        &[7.0, 0.0, 0.5, 0.5, 2.0, 1.0, 0.5, 0.5],
        2,
        4,
    );
    match backend.matmul_selected(&x, &stack, &bad) {
        Err(ComputeError::Argument {
            op: "matmul_selected",
            ..
        }) => {}
        Err(e) => {
            panic!("{name}: matmul_selected refused expert 7 of 3 with the wrong error: {e:?}")
        }
        Ok(out) => {
            let got = download(backend, name, "matmul_selected", &out, [4, 8]);
            assert!(
                got[..8].iter().all(|v| v.is_nan()),
                "{name}: matmul_selected accepted expert 7 of 3 without a NaN row: {:?}",
                &got[..8]
            );
            assert!(
                got[8..].iter().all(|v| v.is_finite()),
                "{name}: a bad id in one selection spoiled the others: {:?}",
                &got[8..]
            );
        }
    }
}

/// `[t, experts]` logits: per row a random permutation of evenly spaced values in
/// `±range / 2` (no near-ties).
fn spaced_logits(case: &mut Case, t: usize, experts: usize, range: f32) -> Vec<f32> {
    let mut logits = Vec::with_capacity(t * experts);
    for _ in 0..t {
        let mut rank: Vec<usize> = (0..experts).collect();
        for i in (1..experts).rev() {
            rank.swap(i, case.below(i + 1));
        }
        logits.extend(
            rank.iter()
                .map(|&r| (r as f32 / experts as f32 - 0.5) * range),
        );
    }
    logits
}
