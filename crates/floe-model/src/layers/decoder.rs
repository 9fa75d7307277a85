//! The pre-norm decoder every attention-only MoE architecture shares: token embedding, decoder
//! layers `h = x + attention(norm₁(x)); out = h + feed_forward(norm₂(h))`, a final RMSNorm and
//! the LM head (or the embedding table when tied). An architecture builds the layers from its
//! config ([`DecoderLayer::load`]) and wraps a [`DecoderModel`].

use std::sync::Arc;
use std::time::Instant;

use floe_compute::Backend;

use crate::layers::attention::{Attention, AttentionOptions, AttentionShape};
use crate::layers::mlp::DenseMlp;
use crate::layers::moe::{ExpertContext, ExpertShape, RouterConfig, SparseMoe};
use crate::layers::residual::add_then_norm;
use crate::model::check_input;
use crate::weights::WeightLoader;
use crate::{Logits, LogitsWanted, Model, ModelError, ModelInfo, ModelState, Timings};

/// The feed-forward half of a decoder layer.
pub enum FeedForward<B: Backend> {
    /// A dense SwiGLU MLP.
    Dense(DenseMlp<B>),
    /// Routed experts.
    Sparse(SparseMoe<B>),
}

impl<B: Backend> FeedForward<B> {
    /// The routed experts of decoder layer `layer`, behind the router
    /// `model.layers.{layer}.mlp.gate.weight` (every architecture on this stack names it so; the
    /// converter renames Mixtral's `block_sparse_moe.`), loaded resident when `experts` says so
    /// ([`SparseMoe::load`]).
    pub fn load_sparse(
        loader: &WeightLoader<'_, B>,
        experts: &ExpertContext,
        layer: usize,
        routing: RouterConfig,
        expert: ExpertShape,
    ) -> Result<Self, ModelError> {
        Ok(FeedForward::Sparse(SparseMoe::load(
            loader,
            experts,
            &format!("model.layers.{layer}.mlp.gate.weight"),
            layer as u32,
            routing,
            expert,
        )?))
    }

    /// The block applied to the already-normalized rows `x`; MoE phases are added to `timings`.
    /// The next layer's block, `next`, gets its prefetch hint from `x` if it is sparse
    /// ([`SparseMoe::forward`]).
    pub fn forward(
        &self,
        backend: &B,
        x: &B::Tensor,
        experts: &ExpertContext,
        timings: &mut Timings,
        next: Option<&FeedForward<B>>,
    ) -> Result<B::Tensor, ModelError> {
        let next = match next {
            Some(FeedForward::Sparse(next)) => Some(next),
            _ => None,
        };
        match self {
            FeedForward::Dense(mlp) => {
                if let Some(next) = next {
                    next.hint(backend, x, experts, timings)?;
                }
                mlp.forward(backend, x)
            }
            FeedForward::Sparse(moe) => moe.forward(backend, x, experts, timings, next),
        }
    }
}

/// One decoder layer: RMSNorm, attention, residual; RMSNorm, feed-forward, residual.
pub struct DecoderLayer<B: Backend> {
    input_norm: B::Weight,
    attention: Attention<B>,
    post_attention_norm: B::Weight,
    feed_forward: FeedForward<B>,
}

impl<B: Backend> DecoderLayer<B> {
    /// Loads decoder layer `layer` under the HF names `model.layers.{layer}.input_layernorm`,
    /// `.self_attn.*` and `.post_attention_layernorm`, around `feed_forward`.
    pub fn load(
        loader: &WeightLoader<'_, B>,
        layer: usize,
        shape: AttentionShape,
        options: AttentionOptions,
        feed_forward: FeedForward<B>,
    ) -> Result<Self, ModelError> {
        let p = format!("model.layers.{layer}");
        Ok(Self {
            input_norm: loader.vector(&format!("{p}.input_layernorm.weight"), shape.hidden)?,
            attention: Attention::load_with(loader, &format!("{p}.self_attn"), shape, options)?,
            post_attention_norm: loader.vector(
                &format!("{p}.post_attention_layernorm.weight"),
                shape.hidden,
            )?,
            feed_forward,
        })
    }
}

/// Width, norm epsilon and LM-head tying of a [`DecoderModel`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecoderHead {
    /// Residual width.
    pub hidden: usize,
    /// Epsilon of every layer norm and the final norm.
    pub rms_norm_eps: f32,
    /// Whether the embedding table is the LM head when the checkpoint stores none.
    pub tie_word_embeddings: bool,
}

/// A decoder-only model made of [`DecoderLayer`]s: dense weights resident on the backend,
/// routed experts fetched through the [`ExpertContext`].
pub struct DecoderModel<B: Backend> {
    backend: Arc<B>,
    info: ModelInfo,
    embed_tokens: B::Weight,
    layers: Vec<DecoderLayer<B>>,
    norm: B::Weight,
    /// `None` when tied to `embed_tokens`.
    lm_head: Option<B::Weight>,
    rms_norm_eps: f32,
    kv_width: usize,
    experts: ExpertContext,
}

impl<B: Backend> DecoderModel<B> {
    /// Assembles a model from its `layers` (at least one, all with the same KV width), loading
    /// `model.embed_tokens.weight` (`[info.vocab_size, hidden]`), `model.norm.weight` and
    /// `lm_head.weight`, which may be absent when `head.tie_word_embeddings` (the embedding
    /// table is then the LM head).
    pub fn load(
        loader: &WeightLoader<'_, B>,
        backend: Arc<B>,
        info: ModelInfo,
        head: DecoderHead,
        layers: Vec<DecoderLayer<B>>,
        experts: ExpertContext,
    ) -> Result<Self, ModelError> {
        let kv_width = match layers.first() {
            Some(first) => first.attention.shape().kv_width(),
            None => {
                return Err(ModelError::config(
                    "num_hidden_layers",
                    "a model needs at least one decoder layer",
                ))
            }
        };
        if let Some(l) = layers
            .iter()
            .position(|l| l.attention.shape().kv_width() != kv_width)
        {
            return Err(ModelError::config(
                "num_key_value_heads",
                format!("layer {l} has a different key/value width than layer 0"),
            ));
        }
        let hidden = head.hidden;
        let embed_tokens = loader.matrix("model.embed_tokens.weight", info.vocab_size, hidden)?;
        let lm_head = load_lm_head(loader, info.vocab_size, hidden, head.tie_word_embeddings)?;
        Ok(Self {
            norm: loader.vector("model.norm.weight", hidden)?,
            backend,
            info,
            embed_tokens,
            layers,
            lm_head,
            rms_norm_eps: head.rms_norm_eps,
            kv_width,
            experts,
        })
    }
}

impl<B: Backend> Model<B> for DecoderModel<B> {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn new_state(&self, context: usize) -> Result<ModelState<B>, ModelError> {
        self.info.check_context(context)?;
        let attention_layers = vec![true; self.layers.len()];
        ModelState::new(
            self.backend.as_ref(),
            &attention_layers,
            self.kv_width,
            context,
        )
    }

    fn forward(
        &self,
        tokens: &[u32],
        state: &mut ModelState<B>,
        wanted: LogitsWanted,
    ) -> Result<Logits, ModelError> {
        check_input(tokens, self.info.vocab_size, state)?;
        let b = self.backend.as_ref();
        let eps = self.rms_norm_eps;
        let past = state.len();
        let t = tokens.len();

        let started = Instant::now();
        let mut x = b.embed(&self.embed_tokens, tokens)?;
        state.timings.embed += started.elapsed();

        // Each block's output is added to the residual stream by the norm after it
        // (`add_rms_norm`, one kernel on a GPU); the last one after the loop.
        let mut pending: Option<B::Tensor> = None;
        for (l, layer) in self.layers.iter().enumerate() {
            let started = Instant::now();
            let h = add_then_norm(b, &mut x, pending.take(), &layer.input_norm, eps, 0.0)?;
            let a = layer
                .attention
                .forward(b, &h, past, state.kv_cache_mut(l)?)?;
            state.timings.attention += started.elapsed();

            let started = Instant::now();
            let moe_before = moe_time(&state.timings);
            let h = add_then_norm(b, &mut x, Some(a), &layer.post_attention_norm, eps, 0.0)?;
            let next = self.layers.get(l + 1).map(|n| &n.feed_forward);
            let m = layer
                .feed_forward
                .forward(b, &h, &self.experts, &mut state.timings, next)?;
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
            vocab: self.info.vocab_size,
            values,
        })
    }
}

/// Loads `lm_head.weight` (`[vocab_size, hidden]`), or `None` when the embedding table is the
/// LM head. As transformers 5.24 does: a stored LM head is used even when config.json ties the
/// embeddings (transformers leaves them untied when the checkpoint holds both with different
/// values; with equal values it makes no difference); without one, `tie_word_embeddings` must be
/// set.
pub(crate) fn load_lm_head<B: Backend>(
    loader: &WeightLoader<'_, B>,
    vocab_size: usize,
    hidden: usize,
    tie_word_embeddings: bool,
) -> Result<Option<B::Weight>, ModelError> {
    if loader.has("lm_head.weight") {
        Ok(Some(loader.matrix("lm_head.weight", vocab_size, hidden)?))
    } else if tie_word_embeddings {
        Ok(None)
    } else {
        Err(ModelError::tensor(
            "lm_head.weight",
            "missing from the checkpoint, and config.json does not set tie_word_embeddings",
        ))
    }
}

/// Time spent in the MoE phases so far.
fn moe_time(t: &Timings) -> std::time::Duration {
    t.router + t.expert_io + t.expert_compute
}

/// Implements [`Model`] for an architecture struct that wraps a [`DecoderModel`] in a field named
/// `model`, by delegating every method to it.
macro_rules! delegate_model_to_decoder {
    ($arch:ident) => {
        impl<B: floe_compute::Backend> $crate::Model<B> for $arch<B> {
            fn info(&self) -> &$crate::ModelInfo {
                self.model.info()
            }

            fn new_state(
                &self,
                context: usize,
            ) -> Result<$crate::ModelState<B>, $crate::ModelError> {
                self.model.new_state(context)
            }

            fn forward(
                &self,
                tokens: &[u32],
                state: &mut $crate::ModelState<B>,
                wanted: $crate::LogitsWanted,
            ) -> Result<$crate::Logits, $crate::ModelError> {
                self.model.forward(tokens, state, wanted)
            }
        }
    };
}
pub(crate) use delegate_model_to_decoder;
