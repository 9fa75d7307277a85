//! Cases of the recurrent operations, `causal_conv1d` and `gated_delta_rule`: each feeds a
//! random sequence in two calls whose state carries over from a random (non-zero) initial state,
//! and compares both calls' outputs and the states after each call with the reference run over
//! the whole sequence (and over the first part), so a state that is not carried, or carried
//! wrongly, fails.

use super::{download, upload};
use crate::conformance::compare::{assert_bits, assert_close, ok};
use crate::conformance::formats::{parse_format, random_weight};
use crate::conformance::reference::{self, Mat};
use crate::conformance::{tolerance, Case};
use crate::{Activation, Backend, ComputeError, DeltaRuleSpec};

fn parse_activation(name: &str, case: &str) -> Option<Activation> {
    match name {
        "none" => None,
        "silu" => Some(Activation::Silu),
        "sigmoid" => Some(Activation::Sigmoid),
        other => panic!("{case}: unknown activation {other}"),
    }
}

fn rows_of(values: &[f32], cols: usize, from: usize, to: usize) -> &[f32] {
    &values[from * cols..to * cols]
}

/// `causal_conv1d` of `t1` then `t2` random steps of `channels` channels with a random
/// `[channels, taps]` weight in `format`, from a random state; `activation` is `"none"`,
/// `"silu"` or `"sigmoid"`. Outputs within [`tolerance::conv1d_tol`], states bit-exact.
#[allow(clippy::too_many_arguments)]
pub fn causal_conv1d<B: Backend>(
    backend: &B,
    mut case: Case,
    format: &str,
    t1: usize,
    t2: usize,
    channels: usize,
    taps: usize,
    activation: &str,
) {
    let name = case.name();
    let f = parse_activation(activation, name);
    let w = random_weight(&mut case, parse_format(format), channels, taps);
    let t = t1 + t2;
    let x = case.values(t * channels, -2.0, 2.0);
    let s0 = case.values((taps - 1) * channels, -2.0, 2.0);
    let wt = ok(name, "weight", backend.weight(w.data.clone()));
    let mut state = upload(backend, name, &s0, taps - 1, channels);
    let mut got = Vec::with_capacity(t * channels);
    let mut states = Vec::new();
    for (from, to) in [(0, t1), (t1, t)] {
        let xt = upload(
            backend,
            name,
            rows_of(&x, channels, from, to),
            to - from,
            channels,
        );
        let y = ok(
            name,
            "causal_conv1d",
            backend.causal_conv1d(&xt, &wt, &mut state, f),
        );
        got.extend(download(
            backend,
            name,
            "causal_conv1d",
            &y,
            [to - from, channels],
        ));
        states.push(download(
            backend,
            name,
            "causal_conv1d (state)",
            &state,
            [taps - 1, channels],
        ));
    }
    let (wm, sm) = (
        Mat::new(channels, taps, w.values.clone()),
        Mat::from_f32(taps - 1, channels, &s0),
    );
    let (want, want_state) = reference::causal_conv1d(&Mat::from_f32(t, channels, &x), &wm, &sm, f);
    let first = Mat::from_f32(t1, channels, rows_of(&x, channels, 0, t1));
    let (_, want_state1) = reference::causal_conv1d(&first, &wm, &sm, f);
    let input = |r: usize, c: usize| {
        if r < taps - 1 {
            s0[r * channels + c] as f64
        } else {
            x[(r - (taps - 1)) * channels + c] as f64
        }
    };
    let tol: Vec<f64> = (0..t * channels)
        .map(|i| {
            let (row, c) = (i / channels, i % channels);
            let magnitude: f64 = (0..taps)
                .map(|j| w.magnitude[c * taps + j] * input(row + j, c).abs())
                .sum();
            tolerance::conv1d_tol(magnitude, want.data[i])
        })
        .collect();
    let what = format!(
        "causal_conv1d of {t1} + {t2} steps × {channels} channels, {taps} taps ({format}), activation {activation}"
    );
    assert_close(name, &what, channels, &got, &want.data, |i| tol[i]);
    let as_f32 = |m: &Mat| m.data.iter().map(|&v| v as f32).collect::<Vec<f32>>();
    assert_bits(
        name,
        &format!("{what}: state after the first call"),
        channels,
        &states[0],
        &as_f32(&want_state1),
    );
    assert_bits(
        name,
        &format!("{what}: state after the second call"),
        channels,
        &states[1],
        &as_f32(&want_state),
    );
}

/// `gated_delta_rule` of `t1` then `t2` random tokens with `nk` query/key heads of `dk` and `nv`
/// value heads of `dv`, from a random state, with (`l2_norm`) or without L2-normalized queries
/// and keys (then keys are drawn with `|k|₂ ≤ 1`). Gates span strong and weak decay. Outputs and
/// states within [`tolerance::delta_rule_tol`].
#[allow(clippy::too_many_arguments)]
pub fn gated_delta_rule<B: Backend>(
    backend: &B,
    mut case: Case,
    t1: usize,
    t2: usize,
    nk: usize,
    nv: usize,
    dk: usize,
    dv: usize,
    l2_norm: bool,
) {
    let name = case.name();
    let spec = DeltaRuleSpec {
        key_heads: nk,
        value_heads: nv,
        key_dim: dk,
        value_dim: dv,
        scale: 1.0 / (dk as f32).sqrt(),
        qk_l2_norm_eps: l2_norm.then_some(1e-6),
    };
    let t = t1 + t2;
    let width = spec.qkv_width();
    let key_bound = if l2_norm {
        1.0
    } else {
        1.0 / (dk as f32).sqrt()
    };
    let mut qkv = Vec::with_capacity(t * width);
    for _ in 0..t {
        qkv.extend(case.values(nk * dk, -1.0, 1.0));
        qkv.extend(case.values(nk * dk, -key_bound, key_bound));
        qkv.extend(case.values(nv * dv, -1.0, 1.0));
    }
    let gates = case.values(t * 2 * nv, -4.0, 4.0);
    let a_log = case.values(nv, -3.0, 1.0);
    let dt_bias = case.values(nv, -1.0, 1.0);
    let [state_rows, state_cols] = spec.state_shape();
    let s0 = case.values(state_rows * state_cols, -0.5, 0.5);
    let (at, dt) = (
        upload(backend, name, &a_log, 1, nv),
        upload(backend, name, &dt_bias, 1, nv),
    );
    let mut state = upload(backend, name, &s0, state_rows, state_cols);
    let mut got = Vec::with_capacity(t * nv * dv);
    let mut states = Vec::new();
    for (from, to) in [(0, t1), (t1, t)] {
        let n = to - from;
        let qt = upload(backend, name, rows_of(&qkv, width, from, to), n, width);
        let gt = upload(backend, name, rows_of(&gates, 2 * nv, from, to), n, 2 * nv);
        let out = ok(
            name,
            "gated_delta_rule",
            backend.gated_delta_rule(&qt, &gt, &at, &dt, &mut state, &spec),
        );
        got.extend(download(
            backend,
            name,
            "gated_delta_rule",
            &out,
            [n, nv * dv],
        ));
        states.push(download(
            backend,
            name,
            "gated_delta_rule (state)",
            &state,
            [state_rows, state_cols],
        ));
    }
    let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let (al, db) = (f64s(&a_log), f64s(&dt_bias));
    let sm = Mat::from_f32(state_rows, state_cols, &s0);
    let run = |rows: usize| {
        reference::gated_delta_rule(
            &Mat::from_f32(rows, width, rows_of(&qkv, width, 0, rows)),
            &Mat::from_f32(rows, 2 * nv, rows_of(&gates, 2 * nv, 0, rows)),
            &al,
            &db,
            &sm,
            &spec,
        )
    };
    let (whole, first) = (run(t), run(t1));
    let v_max = (0..t)
        .flat_map(|r| qkv[r * width + 2 * nk * dk..(r + 1) * width].iter())
        .fold(0.0f64, |m, v| m.max((*v as f64).abs()));
    let query_norm = |row: usize, h: usize| {
        let g = h / (nv / nk);
        let q = &qkv[row * width + g * dk..row * width + (g + 1) * dk];
        let norm = q.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
        if l2_norm {
            1.0
        } else {
            norm
        }
    };
    let tol: Vec<f64> = (0..t * nv * dv)
        .map(|i| {
            let (row, h) = (i / (nv * dv), (i % (nv * dv)) / dv);
            let magnitude =
                spec.scale as f64 * query_norm(row, h) * (whole.column_norm[row] + v_max);
            tolerance::delta_rule_tol(row + 1, dk, magnitude)
        })
        .collect();
    let what =
        format!(
        "gated_delta_rule of {t1} + {t2} tokens, {nk} key heads × {dk}, {nv} value heads × {dv}{}",
        if l2_norm { ", L2-normalized q and k" } else { "" }
    );
    assert_close(name, &what, nv * dv, &got, &whole.output.data, |i| tol[i]);
    for (label, got_state, want, steps) in [
        ("after the first call", &states[0], &first, t1),
        ("after the second call", &states[1], &whole, t),
    ] {
        let bound = tolerance::delta_rule_tol(steps, dk, want.column_norm[steps - 1] + v_max);
        assert_close(
            name,
            &format!("{what}: state {label}"),
            state_cols,
            got_state,
            &want.state.data,
            |_| bound,
        );
    }
}

#[track_caller]
fn refused<T>(case: &str, argument: bool, op: &str, what: &str, result: Result<T, ComputeError>) {
    match result {
        Ok(_) => panic!("{case}: {op} accepted {what}"),
        Err(ComputeError::Shape { op: got, .. }) if !argument && got == op => {}
        Err(ComputeError::Argument { op: got, .. }) if argument && got == op => {}
        Err(e) => panic!(
            "{case}: {op} refused {what} with the wrong error (wanted {} naming `{op}`): {e:?}",
            if argument {
                "ComputeError::Argument"
            } else {
                "ComputeError::Shape"
            }
        ),
    }
}

/// Bad operands of `causal_conv1d` and `gated_delta_rule`: each must be refused with `Shape`
/// (or `Argument` for a bad scalar) naming the operation, and leave the state untouched.
pub fn recurrent_errors<B: Backend>(backend: &B, mut case: Case) {
    let name = case.name();
    let mut tensor = |rows: usize, cols: usize| {
        let values = case.values(rows * cols, -1.0, 1.0);
        upload(backend, name, &values, rows, cols)
    };
    let x = tensor(3, 8);
    let mut state = tensor(3, 8);
    let before = ok(name, "download", backend.download(&state));
    let mut weight_case = Case::new("recurrent_errors::weights");
    let mut weight = |rows: usize, cols: usize| {
        let w = random_weight(&mut weight_case, parse_format("f32"), rows, cols);
        ok(name, "weight", backend.weight(w.data))
    };
    let (w4, w_rows, w1) = (weight(8, 4), weight(7, 4), weight(8, 1));
    let conv = "causal_conv1d";
    let silu = Some(Activation::Silu);
    refused(
        name,
        false,
        conv,
        "a weight of 7 channels for 8",
        backend.causal_conv1d(&x, &w_rows, &mut state, silu),
    );
    refused(
        name,
        false,
        conv,
        "a kernel of 1 tap",
        backend.causal_conv1d(&x, &w1, &mut state, None),
    );
    let mut short_state = tensor(2, 8);
    refused(
        name,
        false,
        conv,
        "a [2, 8] state for 4 taps",
        backend.causal_conv1d(&x, &w4, &mut short_state, silu),
    );
    let mut narrow_state = tensor(3, 7);
    refused(
        name,
        false,
        conv,
        "a [3, 7] state for 8 channels",
        backend.causal_conv1d(&x, &w4, &mut narrow_state, silu),
    );

    let spec = DeltaRuleSpec {
        key_heads: 2,
        value_heads: 4,
        key_dim: 4,
        value_dim: 3,
        scale: 0.5,
        qk_l2_norm_eps: Some(1e-6),
    };
    let op = "gated_delta_rule";
    let qkv = tensor(2, spec.qkv_width());
    let gates = tensor(2, 8);
    let (a_log, dt_bias) = (tensor(1, 4), tensor(1, 4));
    let mut s = tensor(16, 3);
    let s_before = ok(name, "download", backend.download(&s));
    let with = |f: fn(&mut DeltaRuleSpec)| {
        let mut s = spec;
        f(&mut s);
        s
    };
    let bad_specs: [(&str, DeltaRuleSpec, bool); 5] = [
        (
            "3 value heads over 2 key heads",
            with(|s| s.value_heads = 3),
            false,
        ),
        ("0 key heads", with(|s| s.key_heads = 0), false),
        ("key_dim 0", with(|s| s.key_dim = 0), false),
        ("a NaN scale", with(|s| s.scale = f32::NAN), true),
        (
            "a negative epsilon",
            with(|s| s.qk_l2_norm_eps = Some(-1.0)),
            true,
        ),
    ];
    for (what, bad, argument) in bad_specs {
        refused(
            name,
            argument,
            op,
            what,
            backend.gated_delta_rule(&qkv, &gates, &a_log, &dt_bias, &mut s, &bad),
        );
    }
    let qkv_narrow = tensor(2, spec.qkv_width() - 1);
    refused(
        name,
        false,
        op,
        "qkv one column short",
        backend.gated_delta_rule(&qkv_narrow, &gates, &a_log, &dt_bias, &mut s, &spec),
    );
    let gates_rows = tensor(3, 8);
    refused(
        name,
        false,
        op,
        "gates of 3 rows for 2 tokens",
        backend.gated_delta_rule(&qkv, &gates_rows, &a_log, &dt_bias, &mut s, &spec),
    );
    let gates_cols = tensor(2, 4);
    refused(
        name,
        false,
        op,
        "gates of 4 columns for 4 value heads",
        backend.gated_delta_rule(&qkv, &gates_cols, &a_log, &dt_bias, &mut s, &spec),
    );
    let a_log_long = tensor(1, 5);
    refused(
        name,
        false,
        op,
        "a_log of 5 values for 4 heads",
        backend.gated_delta_rule(&qkv, &gates, &a_log_long, &dt_bias, &mut s, &spec),
    );
    let dt_bias_rows = tensor(4, 1);
    refused(
        name,
        false,
        op,
        "dt_bias as a [4, 1] column",
        backend.gated_delta_rule(&qkv, &gates, &a_log, &dt_bias_rows, &mut s, &spec),
    );
    let mut s_wrong = tensor(12, 4);
    refused(
        name,
        false,
        op,
        "a [12, 4] state for [16, 3]",
        backend.gated_delta_rule(&qkv, &gates, &a_log, &dt_bias, &mut s_wrong, &spec),
    );

    let after = ok(name, "download", backend.download(&state));
    assert_bits(
        name,
        "causal_conv1d state after refused calls",
        8,
        &after,
        &before,
    );
    let s_after = ok(name, "download", backend.download(&s));
    assert_bits(
        name,
        "gated_delta_rule state after refused calls",
        3,
        &s_after,
        &s_before,
    );
}
