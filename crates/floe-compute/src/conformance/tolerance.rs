//! How far a backend's result may be from the f64 reference, per operation and format.
//!
//! Every bound is `c · u · magnitude`, `u = 2⁻²⁴` the f32 unit roundoff, where `magnitude` is
//! the size of what the operation adds up (not of its possibly cancelling result). The
//! constants leave a wide margin over the rounding an f32 implementation actually incurs, and
//! are still orders of magnitude below the error of any wrong result (a dropped group, a
//! swapped nibble, a head read from the wrong kv head).

use floe_quant::QuantFormat;

/// f32 unit roundoff, `2⁻²⁴`.
pub const U: f64 = 1.0 / (1u64 << 24) as f64;

/// Bound of `matmul` element `[t, n]`: `matmul_rtol(format) · Σ_k magnitude(w[n, k]) · |x[t, k]|`
/// (see [`super::formats::RefWeight::magnitude`]). Stored values decode to exact f32 values in
/// every format and the dequantization `q · scale + bias` rounds at most twice, so all formats
/// share one arithmetic bound: 1e-5 (≈ 170 u) of the summed magnitude, enough for any f32
/// summation order at the tested sizes.
pub fn matmul_rtol(format: QuantFormat) -> f64 {
    match format {
        QuantFormat::F32 | QuantFormat::F16 | QuantFormat::Bf16 => 1e-5,
        QuantFormat::Q8_0 | QuantFormat::Affine(_) => 1e-5,
    }
}

/// Bound of a dequantized `embed` value: bit-exact for float formats (their f32 conversion is
/// exact); `4 u · magnitude` for quantized ones (`d · q`, or `q · scale + bias`, rounded at most
/// twice).
pub fn embed_tol(format: QuantFormat, magnitude: f64) -> f64 {
    if format.is_quantized() {
        4.0 * U * magnitude
    } else {
        0.0
    }
}

/// Bound of `rms_norm` element `j` of a row: `1e-5 · |x_j| · r · (|offset| + magnitude(w_j))`,
/// `r = 1 / sqrt(mean(x²) + eps)`: the mean of squares, square root and products in f32.
pub fn rms_norm_tol(x: f64, inv_rms: f64, offset: f64, w_magnitude: f64) -> f64 {
    1e-5 * x.abs() * inv_rms * (offset.abs() + w_magnitude)
}

/// Bound of a rotated pair of `rope`: `(|x_a| + |x_b|) · (1e-6 + 5e-7 · angle)`: an
/// implementation may compute the angle `position · θ^(-2i/d)` in f32, off by a few ulps of the
/// angle. Dimensions outside the rotary part must be bit-exact copies.
pub fn rope_tol(xa: f64, xb: f64, angle: f64) -> f64 {
    (xa.abs() + xb.abs()) * (1e-6 + 5e-7 * angle.abs())
}

/// Bound of an `attention` output of one (row, head): `v_max · (1e-5 + 1e-6 · s_abs)`, where
/// `v_max` is the largest `|v|` the head attends to and `s_abs` the largest `scale · Σ|q·k|` of
/// its scores: a score off by `ε` moves its probability by a factor `e^ε`.
pub fn attention_tol(v_max: f64, s_abs: f64) -> f64 {
    v_max * (1e-5 + 1e-6 * s_abs)
}

/// Bound of `swiglu` and `activation` values: `1e-6 · magnitude + 1e-30`, where `magnitude` is
/// `|silu(g) · u|`, `|silu(x)|` or `sigmoid(x)`: one `exp` (a few ulps) and three roundings;
/// the absolute floor admits flushing values below f32's normal range to zero.
pub fn activation_tol(magnitude: f64) -> f64 {
    1e-6 * magnitude.abs() + 1e-30
}

/// Bound of `add` and `mul`: one ulp (`2 u · |result|`): a single correctly rounded operation.
pub fn elementwise_tol(result: f64) -> f64 {
    2.0 * U * result.abs()
}

/// Bound of a `scatter_add_rows` accumulator element: `4 u · (|acc| + Σ|w · src|)` over the
/// additions it received (a product and a sum each).
pub fn scatter_add_tol(magnitude: f64) -> f64 {
    4.0 * U * magnitude
}

/// Bound of a router weight: `1e-5 · w + 1e-7` (a softmax over up to a few hundred experts in
/// f32). Expert ids must match exactly; cases draw logits without near-ties (but with exact
/// ones, which must go to the lower id).
pub fn router_tol(weight: f64) -> f64 {
    1e-5 * weight.abs() + 1e-7
}

/// Bound of a `causal_conv1d` output: `1e-6 · (magnitude + |result|) + 1e-30`, `magnitude` the
/// sum `Σ_j |weight[c, j] · input|` of its `K` products: a short f32 sum and one activation. The
/// state it leaves is data movement and must be bit-exact.
pub fn conv1d_tol(magnitude: f64, result: f64) -> f64 {
    1e-6 * (magnitude + result.abs()) + 1e-30
}

/// Bound of a `gated_delta_rule` value after `steps` tokens with `key_dim`-dimensional keys:
/// `16 u · (steps + 1) · key_dim · magnitude`, where `magnitude` is `column_norm + v_max` for a
/// state value and `scale · |q|₂ · (column_norm + v_max)` for an output (`column_norm` the
/// largest state column norm so far, `v_max` the largest `|v|`). With `|k|₂ ≤ 1` and
/// `0 < β < 1` every token's update is non-expansive in column norms, so each token's f32
/// rounding (sums of `key_dim` terms) is carried forward but never amplified.
pub fn delta_rule_tol(steps: usize, key_dim: usize, magnitude: f64) -> f64 {
    16.0 * U * (steps + 1) as f64 * key_dim as f64 * magnitude + 1e-30
}
