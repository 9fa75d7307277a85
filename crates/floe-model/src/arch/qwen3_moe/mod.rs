//! Qwen3-MoE (`model_type` `qwen3_moe`): pre-norm decoder layers of GQA attention with per-head
//! q/k RMSNorm and full NeoX RoPE, followed by a sparse MoE block (softmax top-k router, SwiGLU
//! experts) or, on the layers `config.json` makes dense, a SwiGLU MLP. Runs on the shared
//! [`DecoderModel`].

mod config;

use std::sync::Arc;

use floe_compute::Backend;
use floe_format::Checkpoint;

pub use config::{Qwen3MoeConfig, QWEN3_MOE};

use crate::layers::attention::AttentionOptions;
use crate::layers::decoder::{delegate_model_to_decoder, DecoderLayer, DecoderModel, FeedForward};
use crate::layers::mlp::DenseMlp;
use crate::layers::moe::{ExpertContext, ExpertShape, RouterConfig};
use crate::weights::WeightLoader;
use crate::{ModelError, ModelInfo};

/// A loaded Qwen3-MoE model: dense weights resident on the backend, experts streamed.
pub struct Qwen3Moe<B: Backend> {
    config: Qwen3MoeConfig,
    model: DecoderModel<B>,
}

impl<B: Backend> Qwen3Moe<B> {
    /// Loads the model in `checkpoint` (whose `config.json` must be a valid Qwen3-MoE config) onto
    /// `backend`; checks every tensor's shape against the config. A stored `lm_head.weight` is
    /// the LM head even when `tie_word_embeddings` is set, as in transformers 5.24.
    pub fn load(
        checkpoint: &Checkpoint,
        backend: Arc<B>,
        experts: ExpertContext,
    ) -> Result<Self, ModelError> {
        let config = Qwen3MoeConfig::from_json(checkpoint.config())?;
        let loader = WeightLoader::new(checkpoint, backend.as_ref());
        let shape = config.attention.shape(true);
        let layers = (0..config.num_hidden_layers)
            .map(|l| {
                let feed_forward = load_feed_forward(&loader, &experts, &config, l)?;
                DecoderLayer::load(&loader, l, shape, AttentionOptions::default(), feed_forward)
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let info = ModelInfo {
            arch: QWEN3_MOE.to_string(),
            vocab_size: config.vocab_size,
            max_context: config.max_position_embeddings,
            layers: config.num_hidden_layers,
            sparse_layers: (0..config.num_hidden_layers)
                .filter(|&l| config.is_sparse_layer(l))
                .count(),
            bos_token_id: config.bos_token_id,
            eos_token_ids: config.eos_token_ids.clone(),
        };
        let head = config.attention.head(config.tie_word_embeddings);
        let model = DecoderModel::load(&loader, backend.clone(), info, head, layers, experts)?;
        Ok(Self { config, model })
    }

    /// The parsed configuration.
    pub fn config(&self) -> &Qwen3MoeConfig {
        &self.config
    }
}

/// The feed-forward block of layer `layer`: routed experts behind the router
/// `model.layers.{layer}.mlp.gate.weight` on a sparse layer, else the SwiGLU MLP
/// `model.layers.{layer}.mlp`.
fn load_feed_forward<B: Backend>(
    loader: &WeightLoader<'_, B>,
    experts: &ExpertContext,
    config: &Qwen3MoeConfig,
    layer: usize,
) -> Result<FeedForward<B>, ModelError> {
    let hidden = config.attention.hidden_size;
    let p = format!("model.layers.{layer}.mlp");
    if config.is_sparse_layer(layer) {
        let routing = RouterConfig {
            num_experts: config.num_experts,
            top_k: config.num_experts_per_tok,
            renormalize: config.norm_topk_prob,
        };
        let expert = ExpertShape {
            hidden,
            intermediate: config.moe_intermediate_size,
        };
        FeedForward::load_sparse(loader, experts, layer, routing, expert)
    } else {
        let intermediate = config.intermediate_size.ok_or_else(|| {
            ModelError::config(
                "intermediate_size",
                format!("missing, and layer {layer} is dense"),
            )
        })?;
        Ok(FeedForward::Dense(DenseMlp::load(
            loader,
            &p,
            hidden,
            intermediate,
        )?))
    }
}

delegate_model_to_decoder!(Qwen3Moe);
