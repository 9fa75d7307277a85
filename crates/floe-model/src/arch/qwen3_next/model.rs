//! [`HybridMoe`]: the decoder of Qwen3-Next and Qwen3.5-MoE. Pre-norm layers
//! `h = x + mixer(norm₁(x)); out = h + feed_forward(norm₂(h))`, the mixer a GatedDeltaNet
//! (recurrent state) or gated attention (KV cache) per `layer_types`, the feed-forward a sparse
//! MoE block with a shared expert (or, on Qwen3-Next's dense layers, a SwiGLU MLP). Every
//! RMSNorm outside the GatedDeltaNet is zero-centred (`x · (1 + w)`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_compute::Backend;
use floe_format::Checkpoint;

use super::config::{HybridConfig, HybridVariant, LayerType};
use super::shared_moe::SharedExpertMoe;
use crate::layers::decoder::load_lm_head;
use crate::layers::gated_attention::{GatedAttention, GatedAttentionShape};
use crate::layers::gated_delta_net::{DeltaNetShape, GatedDeltaNet, ProjectionLayout};
use crate::layers::mlp::DenseMlp;
use crate::layers::moe::{ExpertContext, ExpertShape, RouterConfig};
use crate::layers::residual::add_then_norm;
use crate::model::check_input;
use crate::state::LayerMemory;
use crate::weights::WeightLoader;
use crate::{Logits, LogitsWanted, Model, ModelError, ModelInfo, ModelState, Timings};

/// The zero-centred norms' weight offset (`scale = 1 + w`).
const ZERO_CENTRED: f32 = 1.0;

/// A layer's token mixer and the index of its state among those of its kind.
enum Mixer<B: Backend> {
    Attention {
        block: GatedAttention<B>,
        cache: usize,
    },
    Linear {
        block: GatedDeltaNet<B>,
        state: usize,
    },
}

/// The feed-forward half of a layer.
enum FeedForward<B: Backend> {
    Dense(DenseMlp<B>),
    Sparse(SharedExpertMoe<B>),
}

/// One decoder layer.
struct HybridLayer<B: Backend> {
    input_norm: B::Weight,
    mixer: Mixer<B>,
    post_attention_norm: B::Weight,
    feed_forward: FeedForward<B>,
}

/// A loaded Qwen3-Next or Qwen3.5-MoE model: dense weights resident on the backend, routed
/// experts streamed.
pub struct HybridMoe<B: Backend> {
    backend: Arc<B>,
    config: HybridConfig,
    info: ModelInfo,
    embed_tokens: B::Weight,
    layers: Vec<HybridLayer<B>>,
    /// What each layer keeps in a [`ModelState`].
    memory: Vec<LayerMemory>,
    norm: B::Weight,
    /// `None` when tied to `embed_tokens` (no `lm_head.weight` stored and the config ties them).
    lm_head: Option<B::Weight>,
    experts: ExpertContext,
}

impl<B: Backend> HybridMoe<B> {
    /// Loads the model in `checkpoint` as `variant` (its `config.json` must be a valid config of
    /// that architecture) onto `backend`; checks every tensor's shape against the config.
    pub fn load(
        checkpoint: &Checkpoint,
        backend: Arc<B>,
        experts: ExpertContext,
        variant: HybridVariant,
    ) -> Result<Self, ModelError> {
        let config = HybridConfig::from_json(checkpoint.config(), variant)?;
        let loader = WeightLoader::new(checkpoint, backend.as_ref());
        let c = &config;
        let hidden = c.hidden_size;
        let eps = c.rms_norm_eps as f32;
        let attention = GatedAttentionShape {
            hidden,
            n_heads: c.num_attention_heads,
            n_kv_heads: c.num_key_value_heads,
            head_dim: c.head_dim,
            rotary_dim: c.rotary_dim,
            rope_theta: c.rope_theta as f32,
            norm_eps: eps,
        };
        let linear = DeltaNetShape {
            hidden,
            key_heads: c.linear.key_heads,
            value_heads: c.linear.value_heads,
            key_dim: c.linear.key_dim,
            value_dim: c.linear.value_dim,
            conv_kernel: c.linear.conv_kernel,
            norm_eps: eps,
        };
        let layout = match variant {
            HybridVariant::Qwen3Next => ProjectionLayout::GroupedPerKeyHead,
            HybridVariant::Qwen35Moe => ProjectionLayout::Separate,
        };
        let (mut caches, mut states) = (0, 0);
        let mut layers = Vec::with_capacity(c.num_hidden_layers());
        let mut memory = Vec::with_capacity(c.num_hidden_layers());
        for (l, kind) in c.layer_types.iter().enumerate() {
            let p = format!("model.layers.{l}");
            let mixer = match kind {
                LayerType::FullAttention => {
                    let block =
                        GatedAttention::load(&loader, &format!("{p}.self_attn"), attention)?;
                    memory.push(LayerMemory::Attention {
                        kv_width: attention.kv_width(),
                    });
                    caches += 1;
                    Mixer::Attention {
                        block,
                        cache: caches - 1,
                    }
                }
                LayerType::LinearAttention => {
                    let block =
                        GatedDeltaNet::load(&loader, &format!("{p}.linear_attn"), linear, layout)?;
                    memory.push(LayerMemory::Recurrent(linear.recurrent_shape()));
                    states += 1;
                    Mixer::Linear {
                        block,
                        state: states - 1,
                    }
                }
            };
            let feed_forward = if c.is_sparse_layer(l) {
                let routing = RouterConfig {
                    num_experts: c.num_experts,
                    top_k: c.num_experts_per_tok,
                    renormalize: c.norm_topk_prob,
                };
                let expert = ExpertShape {
                    hidden,
                    intermediate: c.moe_intermediate_size,
                };
                FeedForward::Sparse(SharedExpertMoe::load(
                    &loader,
                    &experts,
                    l,
                    routing,
                    expert,
                    c.shared_expert_intermediate_size,
                )?)
            } else {
                let intermediate = c.intermediate_size.ok_or_else(|| {
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
            layers.push(HybridLayer {
                input_norm: loader.vector(&format!("{p}.input_layernorm.weight"), hidden)?,
                mixer,
                post_attention_norm: loader
                    .vector(&format!("{p}.post_attention_layernorm.weight"), hidden)?,
                feed_forward,
            });
        }
        let embed_tokens = loader.matrix("model.embed_tokens.weight", c.vocab_size, hidden)?;
        let lm_head = load_lm_head(&loader, c.vocab_size, hidden, c.tie_word_embeddings)?;
        let info = ModelInfo {
            arch: variant.model_type().to_string(),
            vocab_size: c.vocab_size,
            max_context: c.max_position_embeddings,
            layers: c.num_hidden_layers(),
            sparse_layers: (0..c.num_hidden_layers())
                .filter(|&l| c.is_sparse_layer(l))
                .count(),
            bos_token_id: c.bos_token_id,
            eos_token_ids: c.eos_token_ids.clone(),
        };
        Ok(Self {
            norm: loader.vector("model.norm.weight", hidden)?,
            backend,
            config,
            info,
            embed_tokens,
            layers,
            memory,
            lm_head,
            experts,
        })
    }

    /// The parsed configuration.
    pub fn config(&self) -> &HybridConfig {
        &self.config
    }

    /// Embedding, every layer and the LM head of `tokens` after the positions `state` holds;
    /// updates the KV caches and recurrent states but not the length.
    fn run(
        &self,
        tokens: &[u32],
        state: &mut ModelState<B>,
        wanted: LogitsWanted,
    ) -> Result<Vec<f32>, ModelError> {
        let b = self.backend.as_ref();
        let eps = self.config.rms_norm_eps as f32;
        let past = state.len();
        let t = tokens.len();

        let started = Instant::now();
        let mut x = b.embed(&self.embed_tokens, tokens)?;
        state.timings.embed += started.elapsed();

        // Each block's output is added to the residual stream by the norm after it.
        let mut pending: Option<B::Tensor> = None;
        for (l, layer) in self.layers.iter().enumerate() {
            let started = Instant::now();
            let h = add_then_norm(
                b,
                &mut x,
                pending.take(),
                &layer.input_norm,
                eps,
                ZERO_CENTRED,
            )?;
            let mixed = match &layer.mixer {
                Mixer::Attention { block, cache } => {
                    block.forward(b, &h, past, state.kv_cache_mut(*cache)?)?
                }
                Mixer::Linear {
                    block,
                    state: index,
                } => block.forward(b, &h, state.recurrent_mut(*index, b)?)?,
            };
            state.timings.attention += started.elapsed();

            let started = Instant::now();
            let moe_before = moe_time(&state.timings);
            let h = add_then_norm(
                b,
                &mut x,
                Some(mixed),
                &layer.post_attention_norm,
                eps,
                ZERO_CENTRED,
            )?;
            let next = match self.layers.get(l + 1).map(|n| &n.feed_forward) {
                Some(FeedForward::Sparse(next)) => Some(next),
                _ => None,
            };
            let m = match &layer.feed_forward {
                FeedForward::Dense(mlp) => {
                    if let Some(next) = next {
                        next.hint(b, &h, &self.experts, &mut state.timings)?;
                    }
                    mlp.forward(b, &h)?
                }
                // A sparse block reads the next one's hint back with its own routing.
                FeedForward::Sparse(moe) => {
                    moe.forward(b, &h, &self.experts, &mut state.timings, next)?
                }
            };
            pending = Some(m);
            let moe = moe_time(&state.timings).saturating_sub(moe_before);
            state.timings.dense_mlp += started.elapsed().saturating_sub(moe);
        }
        if let Some(m) = pending {
            x = b.add(&x, &m)?;
        }

        let started = Instant::now();
        let x = match wanted {
            LogitsWanted::All => x,
            LogitsWanted::Last => b.gather_rows(&x, &[(t - 1) as u32])?,
        };
        let x = b.rms_norm(&x, &self.norm, eps, ZERO_CENTRED)?;
        let logits = b.matmul(&x, self.lm_head.as_ref().unwrap_or(&self.embed_tokens))?;
        let values = b.download(&logits)?;
        state.timings.lm_head += started.elapsed();
        Ok(values)
    }
}

impl<B: Backend> Model<B> for HybridMoe<B> {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn new_state(&self, context: usize) -> Result<ModelState<B>, ModelError> {
        self.info.check_context(context)?;
        ModelState::with_layers(self.backend.as_ref(), &self.memory, context)
    }

    /// As [`Model::forward`]; a failure after the input checks leaves the recurrent states
    /// half-updated, so the state is then invalidated until it is reset.
    fn forward(
        &self,
        tokens: &[u32],
        state: &mut ModelState<B>,
        wanted: LogitsWanted,
    ) -> Result<Logits, ModelError> {
        check_input(tokens, self.info.vocab_size, state)?;
        let values = match self.run(tokens, state, wanted) {
            Ok(values) => values,
            Err(e) => {
                state.invalidate_recurrent();
                return Err(e);
            }
        };
        state.advance(tokens.len())?;
        let rows = match wanted {
            LogitsWanted::All => tokens.len(),
            LogitsWanted::Last => 1,
        };
        Ok(Logits {
            rows,
            vocab: self.info.vocab_size,
            values,
        })
    }
}

/// Time spent in the MoE phases so far.
fn moe_time(t: &Timings) -> Duration {
    t.router + t.expert_io + t.expert_compute
}
