//! Mixtral (`model_type` `mixtral`): pre-norm decoder layers of GQA attention (no q/k norms,
//! full NeoX RoPE, optional sliding window) followed, on every layer, by a sparse MoE block whose
//! router takes the softmax over all experts, the top k, and renormalizes them to sum to one.

mod config;

use std::sync::Arc;

use floe_compute::Backend;
use floe_format::Checkpoint;

pub use config::{MixtralConfig, MIXTRAL};

use crate::layers::attention::AttentionOptions;
use crate::layers::decoder::{delegate_model_to_decoder, DecoderLayer, DecoderModel, FeedForward};
use crate::layers::moe::{ExpertContext, ExpertShape, RouterConfig};
use crate::weights::WeightLoader;
use crate::{ModelError, ModelInfo};

/// A loaded Mixtral model: dense weights resident on the backend, experts streamed.
pub struct Mixtral<B: Backend> {
    config: MixtralConfig,
    model: DecoderModel<B>,
}

impl<B: Backend> Mixtral<B> {
    /// Loads the model in `checkpoint` (whose `config.json` must be a valid Mixtral config) onto
    /// `backend`; checks every tensor's shape against the config. Routers are
    /// `model.layers.L.mlp.gate.weight` (the converter renames `block_sparse_moe.` to `mlp.`).
    pub fn load(
        checkpoint: &Checkpoint,
        backend: Arc<B>,
        experts: ExpertContext,
    ) -> Result<Self, ModelError> {
        let config = MixtralConfig::from_json(checkpoint.config())?;
        let loader = WeightLoader::new(checkpoint, backend.as_ref());
        let shape = config.attention.shape(false);
        let options = AttentionOptions {
            sliding_window: config.sliding_window,
            ..AttentionOptions::default()
        };
        let routing = RouterConfig {
            num_experts: config.num_experts,
            top_k: config.num_experts_per_tok,
            renormalize: true,
        };
        let expert = ExpertShape {
            hidden: config.attention.hidden_size,
            intermediate: config.intermediate_size,
        };
        let layers = (0..config.num_hidden_layers)
            .map(|l| {
                let moe = FeedForward::load_sparse(&loader, &experts, l, routing, expert)?;
                DecoderLayer::load(&loader, l, shape, options, moe)
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let info = ModelInfo {
            arch: MIXTRAL.to_string(),
            vocab_size: config.vocab_size,
            max_context: config.max_position_embeddings,
            layers: config.num_hidden_layers,
            sparse_layers: config.num_hidden_layers,
            bos_token_id: config.bos_token_id,
            eos_token_ids: config.eos_token_ids.clone(),
        };
        let head = config.attention.head(config.tie_word_embeddings);
        let model = DecoderModel::load(&loader, backend.clone(), info, head, layers, experts)?;
        Ok(Self { config, model })
    }

    /// The parsed configuration.
    pub fn config(&self) -> &MixtralConfig {
        &self.config
    }
}

delegate_model_to_decoder!(Mixtral);
