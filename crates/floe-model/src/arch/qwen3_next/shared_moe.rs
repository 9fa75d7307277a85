//! The sparse MoE block of Qwen3-Next and Qwen3.5: routed experts (softmax top-k router, SwiGLU
//! experts streamed through the expert source) plus a resident shared SwiGLU expert whose output
//! is scaled, per token, by `sigmoid(shared_expert_gate · x)`.

use floe_compute::{Activation, Backend};

use crate::layers::mlp::DenseMlp;
use crate::layers::moe::{ExpertContext, ExpertShape, RouterConfig, SparseMoe};
use crate::weights::WeightLoader;
use crate::{ModelError, Timings};

/// One MoE block with a shared expert.
pub struct SharedExpertMoe<B: Backend> {
    routed: SparseMoe<B>,
    shared: DenseMlp<B>,
    /// `[1, hidden]`.
    shared_gate: B::Weight,
}

impl<B: Backend> SharedExpertMoe<B> {
    /// Loads decoder layer `layer`'s router `model.layers.{layer}.mlp.gate.weight` (checking the
    /// checkpoint's expert layout against `routing` and `expert`), its shared expert
    /// `mlp.shared_expert.{gate,up,down}_proj.weight` (intermediate `shared_intermediate`) and
    /// `mlp.shared_expert_gate.weight` (`[1, hidden]`); the routed experts are loaded resident
    /// when `experts` says so.
    pub fn load(
        loader: &WeightLoader<'_, B>,
        experts: &ExpertContext,
        layer: usize,
        routing: RouterConfig,
        expert: ExpertShape,
        shared_intermediate: usize,
    ) -> Result<Self, ModelError> {
        let p = format!("model.layers.{layer}.mlp");
        Ok(Self {
            routed: SparseMoe::load(
                loader,
                experts,
                &format!("{p}.gate.weight"),
                layer as u32,
                routing,
                expert,
            )?,
            shared: DenseMlp::load(
                loader,
                &format!("{p}.shared_expert"),
                expert.hidden,
                shared_intermediate,
            )?,
            shared_gate: loader.matrix(
                &format!("{p}.shared_expert_gate.weight"),
                1,
                expert.hidden,
            )?,
        })
    }

    /// The block applied to the already-normalized rows `x` (`[T, hidden]`); router, expert I/O
    /// and expert compute times are added to `timings`. The gated shared expert is computed
    /// while the routed experts load (when the first blob arrives); the result is the same as
    /// computing it afterwards, since it is combined in the same order
    /// (`routed + shared · gate`).
    /// `next`, the next layer's block if it is sparse, gets its prefetch hint from `x` with this
    /// block's routing ([`SparseMoe::forward`]).
    pub fn forward(
        &self,
        backend: &B,
        x: &B::Tensor,
        experts: &ExpertContext,
        timings: &mut Timings,
        next: Option<&SharedExpertMoe<B>>,
    ) -> Result<B::Tensor, ModelError> {
        let mut gated_shared = None;
        let next = next.map(|n| &n.routed);
        let routed =
            self.routed
                .forward_alongside(backend, x, experts, timings, next, &mut || {
                    gated_shared = Some(self.gated_shared(backend, x)?);
                    Ok(())
                })?;
        let gated_shared = match gated_shared {
            Some(s) => s,
            None => self.gated_shared(backend, x)?,
        };
        Ok(backend.add(&routed, &gated_shared)?)
    }

    /// Prefetch for this block's routed experts (see [`SparseMoe::hint`]).
    pub fn hint(
        &self,
        backend: &B,
        x: &B::Tensor,
        experts: &ExpertContext,
        timings: &mut Timings,
    ) -> Result<(), ModelError> {
        self.routed.hint(backend, x, experts, timings)
    }

    /// The shared expert's output scaled per row by `sigmoid(shared_expert_gate · x)`.
    fn gated_shared(&self, backend: &B, x: &B::Tensor) -> Result<B::Tensor, ModelError> {
        let shared = self.shared.forward(backend, x)?;
        let gate =
            backend.activation(&backend.matmul(x, &self.shared_gate)?, Activation::Sigmoid)?;
        Ok(backend.mul(&shared, &gate)?)
    }
}
