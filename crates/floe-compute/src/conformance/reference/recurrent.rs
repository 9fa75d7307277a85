//! The f64 reference of the recurrent operations: the causal depthwise convolution and the
//! gated delta rule, one token at a time as their definitions read.

use super::{sigmoid, silu, Mat};
use crate::{Activation, DeltaRuleSpec};

/// `f(x)` for an optional activation.
pub fn activate(x: f64, f: Option<Activation>) -> f64 {
    match f {
        None => x,
        Some(Activation::Silu) => silu(x),
        Some(Activation::Sigmoid) => sigmoid(x),
    }
}

/// `ln(1 + eˣ)`, stable for large `|x|`.
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The causal depthwise convolution of `x` (`[T, C]`) with `weight` (`[C, K]`) continuing from
/// `state` (`[K − 1, C]`): the output `[T, C]` and the new state (the last `K − 1` rows of the
/// state followed by `x`).
pub fn causal_conv1d(
    x: &Mat,
    weight: &Mat,
    state: &Mat,
    activation: Option<Activation>,
) -> (Mat, Mat) {
    let (t, c, k) = (x.rows, x.cols, weight.cols);
    let extended = |r: usize, ch: usize| {
        if r < k - 1 {
            state.at(r, ch)
        } else {
            x.at(r - (k - 1), ch)
        }
    };
    let mut out = Vec::with_capacity(t * c);
    for row in 0..t {
        for ch in 0..c {
            let sum: f64 = (0..k)
                .map(|j| weight.at(ch, j) * extended(row + j, ch))
                .sum();
            out.push(activate(sum, activation));
        }
    }
    let next = (t..t + k - 1)
        .flat_map(|r| (0..c).map(move |ch| (r, ch)))
        .map(|(r, ch)| extended(r, ch))
        .collect();
    (Mat::new(t, c, out), Mat::new(k - 1, c, next))
}

/// The result of [`gated_delta_rule`].
#[derive(Clone, Debug)]
pub struct DeltaRuleResult {
    /// `[T, value_heads · value_dim]`.
    pub output: Mat,
    /// The state after the last token, `[value_heads · key_dim, value_dim]`.
    pub state: Mat,
    /// For each token, the largest Euclidean norm of a state column (one value dimension of one
    /// head) seen so far, the initial state included: the scale of what the outputs sum.
    pub column_norm: Vec<f64>,
}

/// The query or key of head `head` of a row, L2-normalized when `eps` is given.
fn head_vector(row: &[f64], start: usize, dim: usize, eps: Option<f32>) -> Vec<f64> {
    let v = &row[start..start + dim];
    let inv = match eps {
        Some(eps) => 1.0 / (v.iter().map(|x| x * x).sum::<f64>() + eps as f64).sqrt(),
        None => 1.0,
    };
    v.iter().map(|x| x * inv).collect()
}

/// The gated delta rule (see [`crate::Backend::gated_delta_rule`]) of `qkv` and `gates`
/// continuing from `state`.
// Plain index loops on purpose: the reference mirrors the formula in the trait's documentation.
#[allow(clippy::needless_range_loop)]
pub fn gated_delta_rule(
    qkv: &Mat,
    gates: &Mat,
    a_log: &[f64],
    dt_bias: &[f64],
    state: &Mat,
    spec: &DeltaRuleSpec,
) -> DeltaRuleResult {
    let (nk, nv, dk, dv) = (
        spec.key_heads,
        spec.value_heads,
        spec.key_dim,
        spec.value_dim,
    );
    let mut s = state.clone();
    let mut out = Vec::with_capacity(qkv.rows * nv * dv);
    let norm = |s: &Mat| {
        (0..nv * dv)
            .map(|hj| {
                let (h, j) = (hj / dv, hj % dv);
                (0..dk)
                    .map(|i| s.at(h * dk + i, j).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .fold(0.0, f64::max)
    };
    let mut column_norm = Vec::with_capacity(qkv.rows);
    let mut largest = norm(&s);
    for t in 0..qkv.rows {
        let row = qkv.row(t);
        for h in 0..nv {
            let g = h / (nv / nk);
            let q: Vec<f64> = head_vector(row, g * dk, dk, spec.qk_l2_norm_eps)
                .iter()
                .map(|x| x * spec.scale as f64)
                .collect();
            let k = head_vector(row, nk * dk + g * dk, dk, spec.qk_l2_norm_eps);
            let v = &row[2 * nk * dk + h * dv..2 * nk * dk + (h + 1) * dv];
            let beta = sigmoid(gates.at(t, h));
            let decay = (-a_log[h].exp() * softplus(gates.at(t, nv + h) + dt_bias[h])).exp();
            let at = |i: usize, j: usize| (h * dk + i) * dv + j;
            for i in 0..dk {
                for j in 0..dv {
                    s.data[at(i, j)] *= decay;
                }
            }
            let u: Vec<f64> = (0..dv)
                .map(|j| beta * (v[j] - (0..dk).map(|i| s.data[at(i, j)] * k[i]).sum::<f64>()))
                .collect();
            for i in 0..dk {
                for j in 0..dv {
                    s.data[at(i, j)] += k[i] * u[j];
                }
            }
            out.extend((0..dv).map(|j| (0..dk).map(|i| s.data[at(i, j)] * q[i]).sum::<f64>()));
        }
        largest = largest.max(norm(&s));
        column_norm.push(largest);
    }
    DeltaRuleResult {
        output: Mat::new(qkv.rows, nv * dv, out),
        state: s,
        column_norm,
    }
}
