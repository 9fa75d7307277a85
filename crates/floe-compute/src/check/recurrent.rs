//! Operand checks of the recurrent operations ([`crate::Backend::causal_conv1d`],
//! [`crate::Backend::gated_delta_rule`]).

use super::{argument, shape};
use crate::{ComputeError, DeltaRuleSpec};

/// [`crate::Backend::causal_conv1d`]: `x` is `[T, C]`, `weight` `[C, K]` with `K ≥ 2`, `state`
/// `[K − 1, C]`; returns the output shape `[T, C]`.
pub fn causal_conv1d(
    x: [usize; 2],
    weight: [usize; 2],
    state: [usize; 2],
) -> Result<[usize; 2], ComputeError> {
    let op = "causal_conv1d";
    let [channels, kernel] = weight;
    if kernel < 2 {
        return Err(shape(
            op,
            format!("the weight is {weight:?}: a kernel needs at least 2 taps (its state holds kernel − 1 rows)"),
        ));
    }
    if channels != x[1] {
        return Err(shape(
            op,
            format!(
                "x is {x:?} but the weight is {weight:?}: one kernel row per channel (column of x) is needed"
            ),
        ));
    }
    if state != [kernel - 1, channels] {
        return Err(shape(
            op,
            format!(
                "the state is {state:?}, but a kernel of {kernel} taps over {channels} channels needs [{}, {channels}]",
                kernel - 1
            ),
        ));
    }
    Ok(x)
}

/// [`crate::Backend::gated_delta_rule`]: non-zero heads and dimensions, value heads a multiple of
/// key heads, `qkv` `[T, spec.qkv_width()]`, `gates` `[T, 2·value_heads]`, `a_log` and `dt_bias`
/// `[1, value_heads]`, `state` `spec.state_shape()`; a finite scale and a finite non-negative
/// epsilon (`Argument`). Returns the output shape `[T, value_heads · value_dim]`.
pub fn gated_delta_rule(
    qkv: [usize; 2],
    gates: [usize; 2],
    a_log: [usize; 2],
    dt_bias: [usize; 2],
    state: [usize; 2],
    spec: &DeltaRuleSpec,
) -> Result<[usize; 2], ComputeError> {
    let op = "gated_delta_rule";
    let DeltaRuleSpec {
        key_heads: nk,
        value_heads: nv,
        key_dim: dk,
        value_dim: dv,
        scale,
        qk_l2_norm_eps,
    } = *spec;
    if nk == 0 || nv == 0 || dk == 0 || dv == 0 || nv % nk != 0 {
        return Err(shape(
            op,
            format!("{nk} key heads of {dk}, {nv} value heads of {dv}: heads and dimensions must be non-zero and key heads must divide value heads"),
        ));
    }
    let t = qkv[0];
    if qkv[1] != spec.qkv_width() {
        return Err(shape(
            op,
            format!(
                "qkv is {qkv:?}, but queries and keys of {nk} heads × {dk} and values of {nv} heads × {dv} need {} columns",
                spec.qkv_width()
            ),
        ));
    }
    if gates != [t, 2 * nv] {
        return Err(shape(
            op,
            format!(
                "gates is {gates:?}, but {t} tokens of {nv} value heads need [{t}, {}] (b, then a)",
                2 * nv
            ),
        ));
    }
    for (name, v) in [("a_log", a_log), ("dt_bias", dt_bias)] {
        if v != [1, nv] {
            return Err(shape(
                op,
                format!("{name} is {v:?}, but {nv} value heads need [1, {nv}]"),
            ));
        }
    }
    if state != spec.state_shape() {
        return Err(shape(
            op,
            format!(
                "the state is {state:?}, but {nv} value heads with {dk}-dimensional keys and {dv}-dimensional values need {:?}",
                spec.state_shape()
            ),
        ));
    }
    if !scale.is_finite() {
        return Err(argument(op, format!("scale = {scale} must be finite")));
    }
    if let Some(eps) = qk_l2_norm_eps {
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(argument(
                op,
                format!("qk_l2_norm_eps = {eps} must be finite and non-negative"),
            ));
        }
    }
    Ok([t, spec.output_width()])
}
