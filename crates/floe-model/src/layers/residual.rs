//! The residual stream between blocks: each block's output is added to it by the norm of the
//! block after (`Backend::add_rms_norm`, one kernel on a GPU backend).

use floe_compute::Backend;

use crate::ModelError;

/// The RMSNorm of the residual stream `x` after adding `delta` to it in place (when there is
/// one): `x ← x + delta`, then `rms_norm(x, w, eps, weight_offset)`, as one `add_rms_norm`.
pub(crate) fn add_then_norm<B: Backend>(
    b: &B,
    x: &mut B::Tensor,
    delta: Option<B::Tensor>,
    w: &B::Weight,
    eps: f32,
    weight_offset: f32,
) -> Result<B::Tensor, ModelError> {
    let Some(delta) = delta else {
        return Ok(b.rms_norm(x, w, eps, weight_offset)?);
    };
    let (sum, normed) = b.add_rms_norm(x, &delta, w, eps, weight_offset)?;
    *x = sum;
    Ok(normed)
}
