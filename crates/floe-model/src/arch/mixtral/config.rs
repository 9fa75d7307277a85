//! The configuration of a Mixtral model, parsed from its HF `config.json` and checked for
//! consistency.

use serde_json::Value;

use crate::arch::common_config::{
    check_model_type, check_no_attention_bias, check_silu, experts_per_token, num_experts,
    AttentionFields,
};
use crate::config::ConfigFields;
use crate::ModelError;

/// HF `model_type` of Mixtral.
pub const MIXTRAL: &str = "mixtral";

/// Everything a Mixtral forward pass needs from `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtralConfig {
    /// Residual width, attention heads, head dimension, norm epsilon and rotary θ.
    pub attention: AttentionFields,
    /// Decoder layers (every one has routed experts).
    pub num_hidden_layers: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Routed experts per layer (`num_local_experts`, or `num_experts`).
    pub num_experts: usize,
    /// Experts each token is routed to; their softmax probabilities are always renormalized.
    pub num_experts_per_tok: usize,
    /// Intermediate width of one expert (`intermediate_size`).
    pub intermediate_size: usize,
    /// Each position attends to at most this many positions, itself included (`None`: all).
    pub sliding_window: Option<usize>,
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

impl MixtralConfig {
    /// Parses and checks `config` (a `config.json` value).
    pub fn from_json(config: &Value) -> Result<Self, ModelError> {
        let f = ConfigFields::new(config)?;
        check_model_type(&f, MIXTRAL)?;
        check_silu(&f)?;
        check_no_attention_bias(&f)?;
        let attention = AttentionFields::parse(&f)?;
        let num_experts = num_experts(&f)?;
        let sliding_window = f.opt_usize("sliding_window")?;
        if sliding_window == Some(0) {
            return Err(ModelError::config(
                "sliding_window",
                "must be at least 1 (or null for no window)",
            ));
        }
        Ok(Self {
            attention,
            num_hidden_layers: f.positive("num_hidden_layers")?,
            vocab_size: f.positive("vocab_size")?,
            num_experts,
            num_experts_per_tok: experts_per_token(&f, num_experts)?,
            intermediate_size: f.positive("intermediate_size")?,
            sliding_window,
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
            "model_type": "mixtral", "hidden_act": "silu",
            "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-5,
            "rope_parameters": {"rope_theta": 1e6, "rope_type": "default"},
            "vocab_size": 512, "num_local_experts": 8, "num_experts_per_tok": 2,
            "intermediate_size": 64, "sliding_window": null, "tie_word_embeddings": false,
            "max_position_embeddings": 4096, "bos_token_id": 509, "eos_token_id": 511
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
        match MixtralConfig::from_json(&v) {
            Err(ModelError::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_transformers5_config() {
        let c = MixtralConfig::from_json(&base()).unwrap();
        assert_eq!(c.num_experts, 8);
        assert_eq!(c.num_experts_per_tok, 2);
        assert_eq!(c.intermediate_size, 64);
        assert_eq!(c.attention.rope_theta, 1e6);
        assert_eq!(c.sliding_window, None);
        assert_eq!(c.eos_token_ids, vec![511]);
        assert_eq!(c.bos_token_id, Some(509));
    }

    #[test]
    fn parses_the_legacy_dialect_and_a_window() {
        let v = with(without(base(), "rope_parameters"), "rope_theta", json!(1e4));
        let v = with(without(v, "head_dim"), "sliding_window", json!(4096));
        let v = with(v, "num_experts", json!(8));
        let c = MixtralConfig::from_json(&v).unwrap();
        assert_eq!(c.attention.rope_theta, 1e4);
        assert_eq!(c.attention.head_dim, 16);
        assert_eq!(c.sliding_window, Some(4096));
    }

    #[test]
    fn missing_and_inconsistent_fields_are_named() {
        assert_eq!(
            err_field(with(base(), "model_type", json!("olmoe"))),
            "model_type"
        );
        assert_eq!(
            err_field(without(base(), "num_local_experts")),
            "num_experts"
        );
        assert_eq!(
            err_field(with(base(), "num_experts", json!(4))),
            "num_experts"
        );
        assert_eq!(
            err_field(with(base(), "num_experts_per_tok", json!(9))),
            "num_experts_per_tok"
        );
        assert_eq!(
            err_field(with(base(), "num_key_value_heads", json!(3))),
            "num_key_value_heads"
        );
        assert_eq!(err_field(with(base(), "head_dim", json!(15))), "head_dim");
        assert_eq!(
            err_field(without(base(), "intermediate_size")),
            "intermediate_size"
        );
        assert_eq!(
            err_field(with(base(), "sliding_window", json!(0))),
            "sliding_window"
        );
        assert_eq!(
            err_field(with(base(), "hidden_act", json!("gelu"))),
            "hidden_act"
        );
        assert_eq!(
            err_field(with(base(), "attention_bias", json!(true))),
            "attention_bias"
        );
        assert_eq!(
            err_field(with(base(), "vocab_size", json!(-1))),
            "vocab_size"
        );
        assert_eq!(
            err_field(with(
                base(),
                "rope_parameters",
                json!({"rope_type": "default", "rope_theta": 1e6, "partial_rotary_factor": 0.5})
            )),
            "partial_rotary_factor"
        );
        assert_eq!(
            err_field(with(
                base(),
                "rope_parameters",
                json!({"rope_type": "linear", "rope_theta": 1e6, "factor": 2.0})
            )),
            "rope_parameters.rope_type"
        );
    }
}
