//! OLMoE (`model_type` `olmoe`): pre-norm decoder layers of GQA attention whose q and k get an
//! RMSNorm over the whole projection (before the split into heads), optionally clamped
//! (`clip_qkv`), with full NeoX RoPE; every layer then has a sparse MoE block (softmax top-k
//! router, renormalized only with `norm_topk_prob`, which OLMoE leaves off).

mod config;

use std::sync::Arc;

use floe_compute::Backend;
use floe_format::Checkpoint;

pub use config::{OlmoeConfig, OLMOE};

use crate::layers::attention::{AttentionOptions, QkNormScope};
use crate::layers::decoder::{delegate_model_to_decoder, DecoderLayer, DecoderModel, FeedForward};
use crate::layers::moe::{ExpertContext, ExpertShape, RouterConfig};
use crate::weights::WeightLoader;
use crate::{ModelError, ModelInfo};

/// A loaded OLMoE model: dense weights resident on the backend, experts streamed.
pub struct Olmoe<B: Backend> {
    config: OlmoeConfig,
    model: DecoderModel<B>,
}

impl<B: Backend> Olmoe<B> {
    /// Loads the model in `checkpoint` (whose `config.json` must be a valid OLMoE config) onto
    /// `backend`; checks every tensor's shape against the config.
    pub fn load(
        checkpoint: &Checkpoint,
        backend: Arc<B>,
        experts: ExpertContext,
    ) -> Result<Self, ModelError> {
        let config = OlmoeConfig::from_json(checkpoint.config())?;
        let loader = WeightLoader::new(checkpoint, backend.as_ref());
        let shape = config.attention.shape(true);
        let options = AttentionOptions {
            qk_norm_scope: QkNormScope::WholeProjection,
            clip_qkv: config.clip_qkv.map(|c| c as f32),
            sliding_window: None,
        };
        let routing = RouterConfig {
            num_experts: config.num_experts,
            top_k: config.num_experts_per_tok,
            renormalize: config.norm_topk_prob,
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
            arch: OLMOE.to_string(),
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
    pub fn config(&self) -> &OlmoeConfig {
        &self.config
    }
}

delegate_model_to_decoder!(Olmoe);
