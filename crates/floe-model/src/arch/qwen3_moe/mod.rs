//! Qwen3-MoE (`model_type` `qwen3_moe`): pre-norm decoder layers of GQA attention with per-head
//! q/k RMSNorm and full NeoX RoPE, followed by a sparse MoE block (softmax top-k router, SwiGLU
//! experts) or, on the layers `config.json` makes dense, a SwiGLU MLP.

mod config;

use std::sync::Arc;
use std::time::Instant;

use floe_compute::{Backend, RopeSpec};
use floe_format::Checkpoint;

pub use config::{Qwen3MoeConfig, QWEN3_MOE};

use crate::layers::attention::{Attention, AttentionShape};
use crate::layers::mlp::DenseMlp;
use crate::layers::moe::{ExpertContext, ExpertShape, RouterConfig, SparseMoe};
use crate::model::check_input;
use crate::weights::WeightLoader;
use crate::{Logits, LogitsWanted, Model, ModelError, ModelInfo, ModelState};

/// The feed-forward half of a decoder layer.
enum FeedForward<B: Backend> {
    Dense(DenseMlp<B>),
    Sparse(SparseMoe<B>),
}

/// One decoder layer.
struct DecoderLayer<B: Backend> {
    input_norm: B::Weight,
    attention: Attention<B>,
    post_attention_norm: B::Weight,
    feed_forward: FeedForward<B>,
}

/// A loaded Qwen3-MoE model: dense weights resident on the backend, experts streamed.
pub struct Qwen3Moe<B: Backend> {
    backend: Arc<B>,
    config: Qwen3MoeConfig,
    info: ModelInfo,
    embed_tokens: B::Weight,
    layers: Vec<DecoderLayer<B>>,
    norm: B::Weight,
    /// `None` when tied to `embed_tokens`.
    lm_head: Option<B::Weight>,
    experts: ExpertContext,
}

impl<B: Backend> Qwen3Moe<B> {
    /// Loads the model in `checkpoint` (whose `config.json` must be a valid Qwen3-MoE config) onto
    /// `backend`; checks every tensor's shape against the config.
    pub fn load(
        checkpoint: &Checkpoint,
        backend: Arc<B>,
        experts: ExpertContext,
    ) -> Result<Self, ModelError> {
        let config = Qwen3MoeConfig::from_json(checkpoint.config())?;
        let loader = WeightLoader::new(checkpoint, backend.as_ref());
        let hidden = config.hidden_size;
        let eps = config.rms_norm_eps as f32;
        let shape = AttentionShape {
            hidden,
            n_heads: config.num_attention_heads,
            n_kv_heads: config.num_key_value_heads,
            head_dim: config.head_dim,
            qk_norm: true,
            norm_eps: eps,
            rope: RopeSpec {
                head_dim: config.head_dim,
                rotary_dim: config.head_dim,
                theta: config.rope_theta as f32,
                interleaved: false,
            },
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("model.layers.{l}");
            let feed_forward = if config.is_sparse_layer(l) {
                let routing = RouterConfig {
                    num_experts: config.num_experts,
                    top_k: config.num_experts_per_tok,
                    renormalize: config.norm_topk_prob,
                };
                let expert = ExpertShape {
                    hidden,
                    intermediate: config.moe_intermediate_size,
                };
                FeedForward::Sparse(SparseMoe::load(
                    &loader,
                    &format!("{p}.mlp.gate.weight"),
                    l as u32,
                    routing,
                    expert,
                )?)
            } else {
                let intermediate = config.intermediate_size.ok_or_else(|| {
                    ModelError::config(
                        "intermediate_size",
                        format!("missing, and layer {l} is dense"),
                    )
                })?;
                FeedForward::Dense(DenseMlp::load(
                    &loader,
                    &format!("{p}.mlp"),
                    hidden,
                    intermediate,
                )?)
            };
            layers.push(DecoderLayer {
                input_norm: loader.vector(&format!("{p}.input_layernorm.weight"), hidden)?,
                attention: Attention::load(&loader, &format!("{p}.self_attn"), shape)?,
                post_attention_norm: loader
                    .vector(&format!("{p}.post_attention_layernorm.weight"), hidden)?,
                feed_forward,
            });
        }
        let embed_tokens = loader.matrix("model.embed_tokens.weight", config.vocab_size, hidden)?;
        // As in transformers, tied embeddings replace any stored LM head.
        let lm_head = if config.tie_word_embeddings {
            None
        } else if loader.has("lm_head.weight") {
            Some(loader.matrix("lm_head.weight", config.vocab_size, hidden)?)
        } else {
            return Err(ModelError::tensor(
                "lm_head.weight",
                "missing from the checkpoint, and config.json does not set tie_word_embeddings",
            ));
        };
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
        Ok(Self {
            norm: loader.vector("model.norm.weight", hidden)?,
            backend,
            config,
            info,
            embed_tokens,
            layers,
            lm_head,
            experts,
        })
    }

    /// The parsed configuration.
    pub fn config(&self) -> &Qwen3MoeConfig {
        &self.config
    }
}

impl<B: Backend> Model<B> for Qwen3Moe<B> {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn new_state(&self, context: usize) -> Result<ModelState<B>, ModelError> {
        if context > self.config.max_position_embeddings {
            return Err(ModelError::argument(
                "context",
                format!(
                    "{context} tokens exceeds the model's max_position_embeddings ({})",
                    self.config.max_position_embeddings
                ),
            ));
        }
        let attention_layers = vec![true; self.layers.len()];
        let kv_width = self.config.num_key_value_heads * self.config.head_dim;
        ModelState::new(self.backend.as_ref(), &attention_layers, kv_width, context)
    }

    fn forward(
        &self,
        tokens: &[u32],
        state: &mut ModelState<B>,
        wanted: LogitsWanted,
    ) -> Result<Logits, ModelError> {
        check_input(tokens, self.config.vocab_size, state)?;
        let b = self.backend.as_ref();
        let eps = self.config.rms_norm_eps as f32;
        let past = state.len();
        let t = tokens.len();

        let started = Instant::now();
        let mut x = b.embed(&self.embed_tokens, tokens)?;
        state.timings.embed += started.elapsed();

        for (l, layer) in self.layers.iter().enumerate() {
            let started = Instant::now();
            let h = b.rms_norm(&x, &layer.input_norm, eps, 0.0)?;
            let a = layer
                .attention
                .forward(b, &h, past, state.kv_cache_mut(l)?)?;
            x = b.add(&x, &a)?;
            state.timings.attention += started.elapsed();

            let started = Instant::now();
            let moe_before =
                state.timings.router + state.timings.expert_io + state.timings.expert_compute;
            let h = b.rms_norm(&x, &layer.post_attention_norm, eps, 0.0)?;
            let m = match &layer.feed_forward {
                FeedForward::Dense(mlp) => mlp.forward(b, &h)?,
                FeedForward::Sparse(moe) => {
                    moe.forward(b, &h, &self.experts, &mut state.timings)?
                }
            };
            x = b.add(&x, &m)?;
            let moe_time =
                state.timings.router + state.timings.expert_io + state.timings.expert_compute
                    - moe_before;
            state.timings.dense_mlp += started.elapsed().saturating_sub(moe_time);
        }

        let started = Instant::now();
        let x = match wanted {
            LogitsWanted::All => x,
            LogitsWanted::Last => b.gather_rows(&x, &[(t - 1) as u32])?,
        };
        let x = b.rms_norm(&x, &self.norm, eps, 0.0)?;
        let logits = b.matmul(&x, self.lm_head.as_ref().unwrap_or(&self.embed_tokens))?;
        let values = b.download(&logits)?;
        state.timings.lm_head += started.elapsed();
        state.advance(t)?;
        let rows = match wanted {
            LogitsWanted::All => t,
            LogitsWanted::Last => 1,
        };
        Ok(Logits {
            rows,
            vocab: self.config.vocab_size,
            values,
        })
    }
}
