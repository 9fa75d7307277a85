//! The recurrent operations of linear-attention layers: the causal depthwise convolution with a
//! rolling state, and the gated delta rule (one task per value head, each owning its slice of
//! the state).

use rayon::prelude::*;

use super::tensor::{CpuTensor, CpuWeight};
use super::CpuBackend;
use crate::{Activation, DeltaRuleSpec};

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `ln(1 + eˣ)` without overflow for large `x`.
fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn activate(x: f32, f: Option<Activation>) -> f32 {
    match f {
        None => x,
        Some(Activation::Silu) => x * sigmoid(x),
        Some(Activation::Sigmoid) => sigmoid(x),
    }
}

/// The convolution of `x` continuing from `state`, which is replaced by the last `K − 1` inputs
/// (shapes checked by the caller).
pub(super) fn causal_conv1d(
    be: &CpuBackend,
    x: &CpuTensor,
    weight: &CpuWeight,
    state: &mut CpuTensor,
    activation: Option<Activation>,
) -> CpuTensor {
    let (t, channels, taps) = (x.rows, x.cols, weight.cols);
    let history = taps - 1;
    let mut kernels = vec![0.0f32; channels * taps];
    weight.matrix().dequantize(&mut kernels);
    // Row `r` of the extended input: the state's rows, then x's.
    let extended = |r: usize| -> &[f32] {
        if r < history {
            state.row(r)
        } else {
            x.row(r - history)
        }
    };
    let out = be.build_rows(t, channels, 1, t * channels * taps, |row, out| {
        for j in 0..taps {
            for (c, (o, v)) in out.iter_mut().zip(extended(row + j)).enumerate() {
                *o += kernels[c * taps + j] * v;
            }
        }
        for o in out.iter_mut() {
            *o = activate(*o, activation);
        }
    });
    let mut next = Vec::with_capacity(history * channels);
    for r in t..t + history {
        next.extend_from_slice(extended(r));
    }
    state.data = next;
    out
}

/// Queries and keys of every token and key head, L2-normalized when the spec says so, the
/// queries multiplied by `spec.scale`: two `[T, key_heads · key_dim]` row-major buffers.
fn normalized_queries_keys(qkv: &CpuTensor, spec: &DeltaRuleSpec) -> (Vec<f32>, Vec<f32>) {
    let width = spec.key_heads * spec.key_dim;
    let mut q = Vec::with_capacity(qkv.rows * width);
    let mut k = Vec::with_capacity(qkv.rows * width);
    for t in 0..qkv.rows {
        let row = qkv.row(t);
        q.extend_from_slice(&row[..width]);
        k.extend_from_slice(&row[width..2 * width]);
    }
    let normalize = |values: &mut [f32], factor: f32| {
        for head in values.chunks_exact_mut(spec.key_dim) {
            let inv = match spec.qk_l2_norm_eps {
                Some(eps) => 1.0 / (head.iter().map(|v| v * v).sum::<f32>() + eps).sqrt(),
                None => 1.0,
            };
            for v in head {
                *v *= inv * factor;
            }
        }
    };
    normalize(&mut q, spec.scale);
    normalize(&mut k, 1.0);
    (q, k)
}

/// The gated delta rule of `qkv` continuing from `state`, updated in place (shapes checked by
/// the caller).
pub(super) fn gated_delta_rule(
    be: &CpuBackend,
    qkv: &CpuTensor,
    gates: &CpuTensor,
    a_log: &CpuTensor,
    dt_bias: &CpuTensor,
    state: &mut CpuTensor,
    spec: &DeltaRuleSpec,
) -> CpuTensor {
    let (t, nv, dk, dv) = (qkv.rows, spec.value_heads, spec.key_dim, spec.value_dim);
    let group = nv / spec.key_heads;
    let key_width = spec.key_heads * dk;
    let (q, k) = normalized_queries_keys(qkv, spec);
    // Value head `h`: runs every token through its state `s` (`[dk, dv]`, row-major) and
    // returns its outputs, `[T, dv]`.
    let head = |(h, s): (usize, &mut [f32])| -> Vec<f32> {
        let rate = a_log.data[h].exp();
        let (key_col, value_col) = ((h / group) * dk, 2 * key_width + h * dv);
        let mut out = vec![0.0f32; t * dv];
        let mut update = vec![0.0f32; dv];
        for (token, o) in out.chunks_exact_mut(dv).enumerate() {
            let gate = gates.row(token);
            let decay = (-rate * softplus(gate[nv + h] + dt_bias.data[h])).exp();
            let beta = sigmoid(gate[h]);
            let key = &k[token * key_width + key_col..][..dk];
            let query = &q[token * key_width + key_col..][..dk];
            let value = &qkv.row(token)[value_col..value_col + dv];
            // S ← γ·S and Sᵀk in one pass over the state.
            update.fill(0.0);
            for (s_row, &ki) in s.chunks_exact_mut(dv).zip(key) {
                for v in s_row.iter_mut() {
                    *v *= decay;
                }
                be.simd.axpy(&mut update, ki, s_row);
            }
            for (u, &v) in update.iter_mut().zip(value) {
                *u = beta * (v - *u);
            }
            // S ← S + k uᵀ and Sᵀq in a second pass.
            for ((s_row, &ki), &qi) in s.chunks_exact_mut(dv).zip(key).zip(query) {
                be.simd.axpy(s_row, ki, &update);
                be.simd.axpy(o, qi, s_row);
            }
        }
        out
    };
    let per_head: Vec<Vec<f32>> = if be.parallel(t * nv * dk * dv * 4) {
        be.install(|| {
            state
                .data
                .par_chunks_mut(dk * dv)
                .enumerate()
                .map(head)
                .collect()
        })
    } else {
        state
            .data
            .chunks_mut(dk * dv)
            .enumerate()
            .map(head)
            .collect()
    };
    let width = nv * dv;
    let mut data = vec![0.0f32; t * width];
    for (h, values) in per_head.iter().enumerate() {
        for (token, o) in values.chunks_exact(dv).enumerate() {
            data[token * width + h * dv..][..dv].copy_from_slice(o);
        }
    }
    CpuTensor::new(t, width, data)
}
