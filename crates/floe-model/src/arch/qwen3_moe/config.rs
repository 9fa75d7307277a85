//! The configuration of a Qwen3-MoE model, parsed from its HF `config.json` and checked for
//! consistency.

use serde_json::Value;

use crate::config::{ConfigFields, RopeConfig};
use crate::ModelError;

/// HF `model_type` of Qwen3-MoE.
pub const QWEN3_MOE: &str = "qwen3_moe";

/// Everything a Qwen3-MoE forward pass needs from `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Qwen3MoeConfig {
    /// Residual stream width.
    pub hidden_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (divides `num_attention_heads`).
    pub num_key_value_heads: usize,
    /// Dimensions per head (`head_dim`, default `hidden_size / num_attention_heads`).
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Rotary embedding θ (full-width NeoX rotary on every head).
    pub rope_theta: f64,
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
    /// Whether the LM head reuses the embedding table.
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
        if let Some(model_type) = f.opt_str("model_type")? {
            if model_type != QWEN3_MOE {
                return Err(ModelError::config(
                    "model_type",
                    format!("expected '{QWEN3_MOE}', found '{model_type}'"),
                ));
            }
        }
        let hidden_size = f.positive("hidden_size")?;
        let num_hidden_layers = f.positive("num_hidden_layers")?;
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
        let rope_theta = RopeConfig::parse(&f)?.theta;
        let vocab_size = f.positive("vocab_size")?;
        let num_experts = match (
            f.opt_usize("num_experts")?,
            f.opt_usize("num_local_experts")?,
        ) {
            (Some(a), Some(b)) if a != b => {
                return Err(ModelError::config(
                    "num_experts",
                    format!("{a} disagrees with num_local_experts ({b})"),
                ));
            }
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => {
                return Err(ModelError::config(
                    "num_experts",
                    "missing (also looked for num_local_experts)",
                ));
            }
        };
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
            let k = f.positive("num_experts_per_tok")?;
            if k > num_experts {
                return Err(ModelError::config(
                    "num_experts_per_tok",
                    format!("{k} exceeds num_experts ({num_experts})"),
                ));
            }
            (k, f.positive("moe_intermediate_size")?)
        } else {
            (
                f.opt_usize("num_experts_per_tok")?.unwrap_or(0),
                f.opt_usize("moe_intermediate_size")?.unwrap_or(0),
            )
        };
        let mut config = Self {
            hidden_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps,
            rope_theta,
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
    if let Some(act) = f.opt_str("hidden_act")? {
        if act != "silu" {
            return Err(ModelError::config(
                "hidden_act",
                format!("'{act}' is not supported (only 'silu')"),
            ));
        }
    }
    if f.bool_or("attention_bias", false)? {
        return Err(ModelError::config(
            "attention_bias",
            "attention projections with bias are not supported",
        ));
    }
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
        assert_eq!(c.head_dim, 16);
        assert_eq!(c.rope_theta, 10000.0);
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
        assert_eq!(c.rope_theta, 1e6);
        assert_eq!(c.num_experts, 8);
    }

    #[test]
    fn head_dim_defaults_to_hidden_over_heads() {
        let c = Qwen3MoeConfig::from_json(&without(base(), "head_dim")).unwrap();
        assert_eq!(c.head_dim, 16);
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
