//! Qwen3-Next (`model_type` `qwen3_next`) and the shared implementation of its successor
//! Qwen3.5-MoE ([`crate::arch::qwen3_5_moe`]): a hybrid decoder whose layers mix tokens either
//! with GatedDeltaNet linear attention (a recurrent state per layer) or with gated softmax
//! attention (q_proj's per-head output gate, zero-centred per-head q/k norms, partial rotary
//! embedding), followed by a sparse MoE block with a sigmoid-gated shared expert. The exact
//! tensor layouts are in `fixtures/README.md`.

mod config;
mod model;
mod shared_moe;

use std::sync::Arc;

use floe_compute::Backend;
use floe_format::Checkpoint;

pub use config::{HybridConfig, HybridVariant, LayerType, LinearAttentionConfig};
pub use model::HybridMoe;
pub use shared_moe::SharedExpertMoe;

use crate::layers::moe::ExpertContext;
use crate::ModelError;

/// HF `model_type` of Qwen3-Next.
pub const QWEN3_NEXT: &str = "qwen3_next";

/// Loads a Qwen3-Next checkpoint (per-key-head grouped `in_proj_qkvz` / `in_proj_ba`).
pub fn load<B: Backend>(
    checkpoint: &Checkpoint,
    backend: Arc<B>,
    experts: ExpertContext,
) -> Result<HybridMoe<B>, ModelError> {
    HybridMoe::load(checkpoint, backend, experts, HybridVariant::Qwen3Next)
}
