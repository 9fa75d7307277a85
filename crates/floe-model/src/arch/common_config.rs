//! `config.json` fields that the standard-attention MoE architectures (Mixtral, OLMoE,
//! Qwen3-MoE) read the same way, with errors that name the field.

use floe_compute::RopeSpec;

use crate::config::{ConfigFields, RopeConfig};
use crate::layers::attention::AttentionShape;
use crate::layers::decoder::DecoderHead;
use crate::ModelError;

/// The attention and norm settings of a decoder with full-width rotary embedding, as Mixtral,
/// OLMoE and Qwen3-MoE read them from `config.json`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionFields {
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// `num_key_value_heads` (divides `num_attention_heads`).
    pub num_key_value_heads: usize,
    /// `head_dim`, default `hidden_size / num_attention_heads`; even.
    pub head_dim: usize,
    /// `rms_norm_eps`.
    pub rms_norm_eps: f64,
    /// Rotary θ.
    pub rope_theta: f64,
}

impl AttentionFields {
    /// Reads and checks the fields; a partial rotary factor other than 1 is refused (these
    /// architectures rotate every dimension of a head).
    pub(crate) fn parse(f: &ConfigFields<'_>) -> Result<Self, ModelError> {
        let hidden_size = f.positive("hidden_size")?;
        let num_attention_heads = f.positive("num_attention_heads")?;
        let num_key_value_heads = f.positive("num_key_value_heads")?;
        if num_attention_heads % num_key_value_heads != 0 {
            return Err(ModelError::config(
                "num_key_value_heads",
                format!("{num_key_value_heads} does not divide num_attention_heads ({num_attention_heads})"),
            ));
        }
        let head_dim = match f.opt_usize("head_dim")? {
            Some(d) => d,
            None => {
                if hidden_size % num_attention_heads != 0 {
                    return Err(ModelError::config(
                        "head_dim",
                        format!("missing, and hidden_size ({hidden_size}) is not a multiple of num_attention_heads ({num_attention_heads})"),
                    ));
                }
                hidden_size / num_attention_heads
            }
        };
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(ModelError::config(
                "head_dim",
                format!("must be even and non-zero for rotary embedding, found {head_dim}"),
            ));
        }
        let rms_norm_eps = f.f64("rms_norm_eps")?;
        if !(rms_norm_eps.is_finite() && rms_norm_eps > 0.0) {
            return Err(ModelError::config(
                "rms_norm_eps",
                format!("must be a positive number, found {rms_norm_eps}"),
            ));
        }
        let rope = RopeConfig::parse(f)?;
        if rope.partial_rotary_factor != 1.0 {
            return Err(ModelError::config(
                "partial_rotary_factor",
                format!(
                    "{} is not supported by this architecture (it rotates every head dimension)",
                    rope.partial_rotary_factor
                ),
            ));
        }
        Ok(Self {
            hidden_size,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps,
            rope_theta: rope.theta,
        })
    }

    /// The attention block of these settings: every head dimension rotated (NeoX pairs), with
    /// or without q/k norms.
    pub fn shape(&self, qk_norm: bool) -> AttentionShape {
        AttentionShape {
            hidden: self.hidden_size,
            n_heads: self.num_attention_heads,
            n_kv_heads: self.num_key_value_heads,
            head_dim: self.head_dim,
            qk_norm,
            norm_eps: self.rms_norm_eps as f32,
            rope: RopeSpec {
                head_dim: self.head_dim,
                rotary_dim: self.head_dim,
                theta: self.rope_theta as f32,
                interleaved: false,
            },
        }
    }

    /// The decoder's final norm and LM head, the embedding table standing in for a missing
    /// `lm_head.weight` when `tie_word_embeddings`.
    pub fn head(&self, tie_word_embeddings: bool) -> DecoderHead {
        DecoderHead {
            hidden: self.hidden_size,
            rms_norm_eps: self.rms_norm_eps as f32,
            tie_word_embeddings,
        }
    }
}

/// Fails unless `model_type` is absent or `expected`.
pub(crate) fn check_model_type(f: &ConfigFields<'_>, expected: &str) -> Result<(), ModelError> {
    match f.opt_str("model_type")? {
        Some(found) if found != expected => Err(ModelError::config(
            "model_type",
            format!("expected '{expected}', found '{found}'"),
        )),
        _ => Ok(()),
    }
}

/// The routed experts per MoE layer: `num_experts` or `num_local_experts` (they must agree when
/// both are given), at least 1.
pub(crate) fn num_experts(f: &ConfigFields<'_>) -> Result<usize, ModelError> {
    let n = num_experts_or_zero(f)?;
    if n == 0 {
        return Err(ModelError::config(
            "num_experts",
            "must be at least 1 (every layer of this architecture has routed experts)",
        ));
    }
    Ok(n)
}

/// `num_experts` or `num_local_experts` (they must agree when both are given); 0 is allowed,
/// for architectures whose layers may all be dense.
pub(crate) fn num_experts_or_zero(f: &ConfigFields<'_>) -> Result<usize, ModelError> {
    match (
        f.opt_usize("num_experts")?,
        f.opt_usize("num_local_experts")?,
    ) {
        (Some(a), Some(b)) if a != b => Err(ModelError::config(
            "num_experts",
            format!("{a} disagrees with num_local_experts ({b})"),
        )),
        (Some(a), _) | (None, Some(a)) => Ok(a),
        (None, None) => Err(ModelError::config(
            "num_experts",
            "missing (also looked for num_local_experts)",
        )),
    }
}

/// `num_experts_per_tok`, between 1 and `num_experts`.
pub(crate) fn experts_per_token(
    f: &ConfigFields<'_>,
    num_experts: usize,
) -> Result<usize, ModelError> {
    let k = f.positive("num_experts_per_tok")?;
    if k > num_experts {
        return Err(ModelError::config(
            "num_experts_per_tok",
            format!("{k} exceeds num_experts ({num_experts})"),
        ));
    }
    Ok(k)
}

/// Refuses activations other than SiLU (`hidden_act`, when present).
pub(crate) fn check_silu(f: &ConfigFields<'_>) -> Result<(), ModelError> {
    match f.opt_str("hidden_act")? {
        Some(act) if act != "silu" => Err(ModelError::config(
            "hidden_act",
            format!("'{act}' is not supported (only 'silu')"),
        )),
        _ => Ok(()),
    }
}

/// Refuses `attention_bias: true` (projections with biases are not implemented).
pub(crate) fn check_no_attention_bias(f: &ConfigFields<'_>) -> Result<(), ModelError> {
    if f.bool_or("attention_bias", false)? {
        return Err(ModelError::config(
            "attention_bias",
            "attention projections with bias are not supported",
        ));
    }
    Ok(())
}
