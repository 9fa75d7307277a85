//! The configuration of an OLMoE model, parsed from its HF `config.json` and checked for
//! consistency.

use serde_json::Value;

use crate::arch::common_config::{
    check_model_type, check_no_attention_bias, check_silu, experts_per_token, num_experts,
    AttentionFields,
};
use crate::config::ConfigFields;
use crate::ModelError;

/// HF `model_type` of OLMoE.
pub const OLMOE: &str = "olmoe";

/// Everything an OLMoE forward pass needs from `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct OlmoeConfig {
    /// Residual width, attention heads, head dimension, norm epsilon and rotary θ.
    pub attention: AttentionFields,
    /// Decoder layers (every one has routed experts).
    pub num_hidden_layers: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Routed experts per layer (`num_experts`, or `num_local_experts`).
    pub num_experts: usize,
    /// Experts each token is routed to.
    pub num_experts_per_tok: usize,
    /// Intermediate width of one expert (`intermediate_size`).
    pub intermediate_size: usize,
    /// Whether the top-k router probabilities are renormalized (OLMoE's default: no).
    pub norm_topk_prob: bool,
    /// q, k and v are clamped to `[-clip_qkv, clip_qkv]` when set.
    pub clip_qkv: Option<f64>,
    /// Whether the LM head is the embedding table when the checkpoint has no `lm_head.weight`
    /// (a stored one is used regardless, as transformers does).
    pub tie_word_embeddings: bool,
    /// The longest context the model was trained for.
    pub max_position_embeddings: usize,
    /// `bos_token_id`, if any.
    pub bos_token_id: Option<u32>,
    /// `eos_token_id` (one id or several).
    pub eos_token_ids: Vec<u32>,
}

impl OlmoeConfig {
    /// Parses and checks `config` (a `config.json` value).
    pub fn from_json(config: &Value) -> Result<Self, ModelError> {
        let f = ConfigFields::new(config)?;
        check_model_type(&f, OLMOE)?;
        check_silu(&f)?;
        check_no_attention_bias(&f)?;
        let attention = AttentionFields::parse(&f)?;
        let per_head = attention.hidden_size / attention.num_attention_heads;
        if attention.head_dim != per_head
            || attention.hidden_size % attention.num_attention_heads != 0
        {
            return Err(ModelError::config(
                "head_dim",
                format!(
                    "{} must equal hidden_size / num_attention_heads ({} / {}): OLMoE's q/k norms are sized from it",
                    attention.head_dim, attention.hidden_size, attention.num_attention_heads
                ),
            ));
        }
        let clip_qkv = f.opt_f64("clip_qkv")?;
        if let Some(clip) = clip_qkv {
            if !(clip.is_finite() && clip > 0.0) {
                return Err(ModelError::config(
                    "clip_qkv",
                    format!("must be a positive number (or null), found {clip}"),
                ));
            }
        }
        let num_experts = num_experts(&f)?;
        Ok(Self {
            attention,
            num_hidden_layers: f.positive("num_hidden_layers")?,
            vocab_size: f.positive("vocab_size")?,
            num_experts,
            num_experts_per_tok: experts_per_token(&f, num_experts)?,
            intermediate_size: f.positive("intermediate_size")?,
            norm_topk_prob: f.bool_or("norm_topk_prob", false)?,
            clip_qkv,
            tie_word_embeddings: f.bool_or("tie_word_embeddings", false)?,
            max_position_embeddings: f.positive("max_position_embeddings")?,
            bos_token_id: f.token_ids("bos_token_id")?.first().copied(),
            eos_token_ids: f.token_ids("eos_token_id")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "model_type": "olmoe", "hidden_act": "silu", "attention_bias": false,
            "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
            "rope_parameters": {"rope_theta": 1e4, "rope_type": "default"},
            "vocab_size": 512, "num_experts": 4, "num_experts_per_tok": 2,
            "intermediate_size": 64, "norm_topk_prob": false, "clip_qkv": null,
            "tie_word_embeddings": false, "max_position_embeddings": 4096,
            "bos_token_id": 509, "eos_token_id": 511
        })
    }

    fn with(mut v: Value, key: &str, value: Value) -> Value {
        v[key] = value;
        v
    }

    fn without(mut v: Value, key: &str) -> Value {
        v.as_object_mut().unwrap().remove(key);
        v
    }

    fn err_field(v: Value) -> String {
        match OlmoeConfig::from_json(&v) {
            Err(ModelError::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_transformers5_config() {
        let c = OlmoeConfig::from_json(&base()).unwrap();
        assert_eq!(c.attention.head_dim, 16);
        assert_eq!(c.num_experts, 4);
        assert!(!c.norm_topk_prob);
        assert_eq!(c.clip_qkv, None);
        assert_eq!(c.attention.rope_theta, 1e4);
        let c = OlmoeConfig::from_json(&with(base(), "clip_qkv", json!(8.0))).unwrap();
        assert_eq!(c.clip_qkv, Some(8.0));
        let c = OlmoeConfig::from_json(&without(base(), "norm_topk_prob")).unwrap();
        assert!(!c.norm_topk_prob);
    }

    #[test]
    fn missing_and_inconsistent_fields_are_named() {
        assert_eq!(
            err_field(with(base(), "model_type", json!("mixtral"))),
            "model_type"
        );
        assert_eq!(err_field(with(base(), "head_dim", json!(32))), "head_dim");
        assert_eq!(err_field(with(base(), "clip_qkv", json!(0.0))), "clip_qkv");
        assert_eq!(
            err_field(with(base(), "clip_qkv", json!("big"))),
            "clip_qkv"
        );
        assert_eq!(err_field(without(base(), "num_experts")), "num_experts");
        assert_eq!(
            err_field(with(base(), "num_experts", json!(0))),
            "num_experts"
        );
        assert_eq!(
            err_field(with(base(), "num_experts_per_tok", json!(5))),
            "num_experts_per_tok"
        );
        assert_eq!(
            err_field(with(base(), "num_key_value_heads", json!(3))),
            "num_key_value_heads"
        );
        assert_eq!(
            err_field(with(base(), "attention_bias", json!(true))),
            "attention_bias"
        );
        assert_eq!(
            err_field(with(base(), "norm_topk_prob", json!(1))),
            "norm_topk_prob"
        );
        assert_eq!(err_field(without(base(), "rms_norm_eps")), "rms_norm_eps");
        assert_eq!(
            err_field(without(base(), "max_position_embeddings")),
            "max_position_embeddings"
        );
    }
}
