//! The dense SwiGLU feed-forward block: `down(silu(gate(x)) · up(x))`.

use floe_compute::Backend;

use crate::weights::WeightLoader;
use crate::ModelError;

/// One dense SwiGLU MLP.
pub struct DenseMlp<B: Backend> {
    gate_proj: B::Weight,
    up_proj: B::Weight,
    down_proj: B::Weight,
}

impl<B: Backend> DenseMlp<B> {
    /// Loads `{prefix}.gate_proj.weight`, `up_proj` (`[intermediate, hidden]`) and `down_proj`
    /// (`[hidden, intermediate]`).
    pub fn load(
        loader: &WeightLoader<'_, B>,
        prefix: &str,
        hidden: usize,
        intermediate: usize,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            gate_proj: loader.matrix(
                &format!("{prefix}.gate_proj.weight"),
                intermediate,
                hidden,
            )?,
            up_proj: loader.matrix(&format!("{prefix}.up_proj.weight"), intermediate, hidden)?,
            down_proj: loader.matrix(
                &format!("{prefix}.down_proj.weight"),
                hidden,
                intermediate,
            )?,
        })
    }

    /// The block applied to `x` (`[T, hidden]`).
    pub fn forward(&self, backend: &B, x: &B::Tensor) -> Result<B::Tensor, ModelError> {
        swiglu_mlp(backend, x, &self.gate_proj, &self.up_proj, &self.down_proj)
    }
}

/// `down(silu(x·gateᵀ) · x·upᵀ)`: one SwiGLU MLP (dense block or one expert).
pub fn swiglu_mlp<B: Backend>(
    backend: &B,
    x: &B::Tensor,
    gate: &B::Weight,
    up: &B::Weight,
    down: &B::Weight,
) -> Result<B::Tensor, ModelError> {
    let g = backend.matmul(x, gate)?;
    let u = backend.matmul(x, up)?;
    let h = backend.swiglu(&g, &u)?;
    Ok(backend.matmul(&h, down)?)
}
