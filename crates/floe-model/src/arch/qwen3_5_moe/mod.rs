//! Qwen3.5-MoE (the architecture of Qwen3.5-397B-A17B): the Qwen3-Next hybrid decoder
//! ([`crate::arch::qwen3_next::HybridMoe`]) with separate GatedDeltaNet input projections
//! (`in_proj_qkv`, `in_proj_z`, `in_proj_b`, `in_proj_a`), a sparse MoE block with a shared expert
//! on every layer, and a router that always renormalizes. Multimodal checkpoints
//! (`qwen3_5_moe`, `Qwen3_5MoeForConditionalGeneration`) are run as their text model: the
//! converter records them as `qwen3_5_moe_text` and drops the vision tower, and the text fields
//! are read from `config.json`'s `text_config`. Multimodal RoPE reduces to plain partial RoPE
//! for text, whose three position axes are all the token index.

use std::sync::Arc;

use floe_compute::Backend;
use floe_format::Checkpoint;

use crate::arch::qwen3_next::{HybridMoe, HybridVariant};
use crate::layers::moe::ExpertContext;
use crate::ModelError;

/// HF `model_type` of the Qwen3.5-MoE text model (what floe's converter records).
pub const QWEN3_5_MOE_TEXT: &str = "qwen3_5_moe_text";

/// HF `model_type` of the multimodal Qwen3.5-MoE model (accepted as a manifest arch too).
pub const QWEN3_5_MOE: &str = "qwen3_5_moe";

/// Loads a Qwen3.5-MoE checkpoint (text-only or multimodal).
pub fn load<B: Backend>(
    checkpoint: &Checkpoint,
    backend: Arc<B>,
    experts: ExpertContext,
) -> Result<HybridMoe<B>, ModelError> {
    HybridMoe::load(checkpoint, backend, experts, HybridVariant::Qwen35Moe)
}
