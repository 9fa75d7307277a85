//! The configuration of a Qwen3-MoE model, parsed from its HF `config.json` and checked for
//! consistency.

use serde_json::Value;

use crate::arch::common_config::{
    check_model_type, check_no_attention_bias, check_silu, experts_per_token, num_experts_or_zero,
    AttentionFields,
};
use crate::config::ConfigFields;
use crate::ModelError;

/// HF `model_type` of Qwen3-MoE.
pub const QWEN3_MOE: &str = "qwen3_moe";

/// Everything a Qwen3-MoE forward pass needs from `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Qwen3MoeConfig {
    /// Residual width, attention heads, head dimension, norm epsilon and rotary θ.
    pub attention: AttentionFields,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Vocabulary size (rows of the embedding table and the LM head).
    pub vocab_size: usize,
    /// Routed experts per MoE layer (`num_experts`, saved as `num_local_experts` by transformers 5).
    pub num_experts: usize,
    /// Experts each token is routed to.
    pub num_experts_per_tok: usize,
    /// Intermediate width of one expert.
    pub moe_intermediate_size: usize,
    /// Intermediate width of the dense MLP layers (`None` when every layer is sparse and the field
    /// is absent).
    pub intermediate_size: Option<usize>,
    /// Whether the top-k router probabilities are renormalized to sum to one.
    pub norm_topk_prob: bool,
    /// Every `decoder_sparse_step`-th layer is sparse.
    pub decoder_sparse_step: usize,
    /// Layers forced to a dense MLP.
    pub mlp_only_layers: Vec<usize>,
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

impl Qwen3MoeConfig {
    /// Parses and checks `config` (a `config.json` value).
    pub fn from_json(config: &Value) -> Result<Self, ModelError> {
        let f = ConfigFields::new(config)?;
        check_model_type(&f, QWEN3_MOE)?;
        let num_hidden_layers = f.positive("num_hidden_layers")?;
        let attention = AttentionFields::parse(&f)?;
        let vocab_size = f.positive("vocab_size")?;
        let num_experts = num_experts_or_zero(&f)?;
        let decoder_sparse_step = f.opt_usize("decoder_sparse_step")?.unwrap_or(1);
        if decoder_sparse_step == 0 && num_experts > 0 {
            return Err(ModelError::config(
                "decoder_sparse_step",
                "must be at least 1",
            ));
        }
        let mlp_only_layers = f.usize_list("mlp_only_layers")?;
        if let Some(&bad) = mlp_only_layers.iter().find(|&&l| l >= num_hidden_layers) {
            return Err(ModelError::config(
                "mlp_only_layers",
                format!("layer {bad} does not exist (num_hidden_layers is {num_hidden_layers})"),
            ));
        }
        let (num_experts_per_tok, moe_intermediate_size) = if num_experts > 0 {
            (
                experts_per_token(&f, num_experts)?,
                f.positive("moe_intermediate_size")?,
            )
        } else {
            (
                f.opt_usize("num_experts_per_tok")?.unwrap_or(0),
                f.opt_usize("moe_intermediate_size")?.unwrap_or(0),
            )
        };
        let mut config = Self {
            attention,
            num_hidden_layers,
            vocab_size,
            num_experts,
            num_experts_per_tok,
            moe_intermediate_size,
            intermediate_size: f.opt_usize("intermediate_size")?,
            norm_topk_prob: f.bool_or("norm_topk_prob", false)?,
            decoder_sparse_step,
            mlp_only_layers,
            tie_word_embeddings: f.bool_or("tie_word_embeddings", false)?,
            max_position_embeddings: f.positive("max_position_embeddings")?,
            bos_token_id: f.token_ids("bos_token_id")?.first().copied(),
            eos_token_ids: f.token_ids("eos_token_id")?,
        };
        let any_dense = (0..num_hidden_layers).any(|l| !config.is_sparse_layer(l));
        match config.intermediate_size {
            Some(0) if any_dense => {
                return Err(ModelError::config(
                    "intermediate_size",
                    "must be at least 1",
                ))
            }
            None if any_dense => {
                return Err(ModelError::config(
                    "intermediate_size",
                    "missing, and some layers use a dense MLP",
                ));
            }
            _ => {}
        }
        if !any_dense {
            config.intermediate_size = config.intermediate_size.filter(|&n| n > 0);
        }
        check_unsupported(&f)?;
        Ok(config)
    }

    /// Whether decoder layer `layer` has a sparse MoE block (else a dense SwiGLU MLP), exactly as
    /// transformers' `Qwen3MoeDecoderLayer` decides: not in `mlp_only_layers`, experts exist, and
    /// `(layer + 1) % decoder_sparse_step == 0`.
    pub fn is_sparse_layer(&self, layer: usize) -> bool {
        !self.mlp_only_layers.contains(&layer)
            && self.num_experts > 0
            && (layer + 1).is_multiple_of(self.decoder_sparse_step)
    }
}

/// Rejects settings that change the computation in ways floe does not implement.
fn check_unsupported(f: &ConfigFields<'_>) -> Result<(), ModelError> {
    check_silu(f)?;
    check_no_attention_bias(f)?;
    if f.bool_or("use_sliding_window", false)? {
        return Err(ModelError::config(
            "use_sliding_window",
            "sliding-window attention is not supported",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "model_type": "qwen3_moe",
            "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"},
            "vocab_size": 300, "num_local_experts": 8, "num_experts_per_tok": 2,
            "moe_intermediate_size": 32, "intermediate_size": 96, "norm_topk_prob": true,
            "decoder_sparse_step": 1, "mlp_only_layers": [], "tie_word_embeddings": false,
            "max_position_embeddings": 512, "eos_token_id": [5, 6], "bos_token_id": null
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
        match Qwen3MoeConfig::from_json(&v) {
            Err(ModelError::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn parses_transformers5_config() {
        let c = Qwen3MoeConfig::from_json(&base()).unwrap();
        assert_eq!(c.num_experts, 8);
        assert_eq!(c.attention.head_dim, 16);
        assert_eq!(c.attention.rope_theta, 10000.0);
        assert_eq!(c.eos_token_ids, vec![5, 6]);
        assert_eq!(c.bos_token_id, None);
        assert!(c.norm_topk_prob);
        assert!((0..4).all(|l| c.is_sparse_layer(l)));
    }

    #[test]
    fn parses_legacy_rope_theta_and_num_experts() {
        let v = without(base(), "rope_parameters");
        let v = with(v, "rope_theta", json!(1e6));
        let v = with(without(v, "num_local_experts"), "num_experts", json!(8));
        let c = Qwen3MoeConfig::from_json(&v).unwrap();
        assert_eq!(c.attention.rope_theta, 1e6);
        assert_eq!(c.num_experts, 8);
    }

    #[test]
    fn head_dim_defaults_to_hidden_over_heads() {
        let c = Qwen3MoeConfig::from_json(&without(base(), "head_dim")).unwrap();
        assert_eq!(c.attention.head_dim, 16);
    }

    #[test]
    fn sparse_layers_follow_transformers_rule() {
        let v = with(base(), "decoder_sparse_step", json!(2));
        let v = with(v, "mlp_only_layers", json!([3]));
        let c = Qwen3MoeConfig::from_json(&v).unwrap();
        let sparse: Vec<bool> = (0..4).map(|l| c.is_sparse_layer(l)).collect();
        assert_eq!(sparse, vec![false, true, false, false]);
        let c = Qwen3MoeConfig::from_json(&with(base(), "num_local_experts", json!(0))).unwrap();
        assert!((0..4).all(|l| !c.is_sparse_layer(l)));
    }

    #[test]
    fn missing_and_inconsistent_fields_are_named() {
        assert_eq!(err_field(without(base(), "hidden_size")), "hidden_size");
        assert_eq!(
            err_field(without(base(), "num_local_experts")),
            "num_experts"
        );
        assert_eq!(err_field(without(base(), "rope_parameters")), "rope_theta");
        assert_eq!(
            err_field(with(base(), "num_key_value_heads", json!(3))),
            "num_key_value_heads"
        );
        assert_eq!(
            err_field(with(base(), "num_experts_per_tok", json!(9))),
            "num_experts_per_tok"
        );
        assert_eq!(
            err_field(with(base(), "num_experts", json!(4))),
            "num_experts"
        );
        assert_eq!(
            err_field(with(base(), "vocab_size", json!("300"))),
            "vocab_size"
        );
        assert_eq!(
            err_field(with(base(), "mlp_only_layers", json!([7]))),
            "mlp_only_layers"
        );
        assert_eq!(
            err_field(with(base(), "hidden_act", json!("gelu"))),
            "hidden_act"
        );
        assert_eq!(
            err_field(with(
                base(),
                "rope_parameters",
                json!({"rope_type": "yarn", "rope_theta": 1e6})
            )),
            "rope_parameters.rope_type"
        );
        let dense_needs_intermediate = with(
            without(base(), "intermediate_size"),
            "mlp_only_layers",
            json!([0]),
        );
        assert_eq!(err_field(dense_needs_intermediate), "intermediate_size");
        assert!(Qwen3MoeConfig::from_json(&without(base(), "intermediate_size")).is_ok());
    }
}
