//! The configuration of a hybrid GatedDeltaNet / gated-attention MoE model (Qwen3-Next,
//! Qwen3.5-MoE), parsed from its HF `config.json` (the `text_config` of a multimodal Qwen3.5
//! checkpoint) and checked for consistency. Defaults are transformers 5.24's
//! (`Qwen3NextConfig`, `Qwen3_5MoeTextConfig`).

use serde_json::Value;

use crate::arch::common_config::{
    check_model_type, check_no_attention_bias, check_silu, experts_per_token, num_experts,
};
use crate::config::{ConfigFields, RopeConfig};
use crate::ModelError;

/// Which of the two architectures a configuration describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HybridVariant {
    /// Qwen3-Next (`qwen3_next`): fused, per-key-head grouped `in_proj_qkvz` / `in_proj_ba`;
    /// `mlp_only_layers`, `decoder_sparse_step` and `norm_topk_prob` honoured.
    Qwen3Next,
    /// Qwen3.5-MoE (`qwen3_5_moe_text`): separate `in_proj_qkv`, `in_proj_z`, `in_proj_b`,
    /// `in_proj_a`; every layer sparse; the router always renormalizes.
    Qwen35Moe,
}

impl HybridVariant {
    /// The text model's HF `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            HybridVariant::Qwen3Next => super::QWEN3_NEXT,
            HybridVariant::Qwen35Moe => crate::arch::qwen3_5_moe::QWEN3_5_MOE_TEXT,
        }
    }
}

/// A decoder layer's token mixer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerType {
    /// Gated softmax attention over a KV cache (`full_attention`).
    FullAttention,
    /// A GatedDeltaNet layer with a recurrent state (`linear_attention`).
    LinearAttention,
}

/// The GatedDeltaNet sizes (`linear_*` fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearAttentionConfig {
    /// `linear_num_key_heads`.
    pub key_heads: usize,
    /// `linear_num_value_heads` (a multiple of the key heads).
    pub value_heads: usize,
    /// `linear_key_head_dim`.
    pub key_dim: usize,
    /// `linear_value_head_dim`.
    pub value_dim: usize,
    /// `linear_conv_kernel_dim` (at least 2).
    pub conv_kernel: usize,
}

impl LinearAttentionConfig {
    /// Channels of the causal convolution: queries, keys and values, `2·nk·dk + nv·dv`.
    pub fn conv_channels(&self) -> usize {
        2 * self.key_heads * self.key_dim + self.value_heads * self.value_dim
    }

    /// Columns of the values (and of the output gate `z`): `nv·dv`.
    pub fn value_width(&self) -> usize {
        self.value_heads * self.value_dim
    }
}

/// Everything a Qwen3-Next / Qwen3.5-MoE forward pass needs from `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct HybridConfig {
    /// Which architecture.
    pub variant: HybridVariant,
    /// Residual stream width.
    pub hidden_size: usize,
    /// The token mixer of each decoder layer (`layer_types`, else every
    /// `full_attention_interval`-th layer is full attention).
    pub layer_types: Vec<LayerType>,
    /// Query heads of the full-attention layers.
    pub num_attention_heads: usize,
    /// Key/value heads of the full-attention layers (divides `num_attention_heads`).
    pub num_key_value_heads: usize,
    /// Dimensions per attention head (default 256).
    pub head_dim: usize,
    /// Leading dimensions of each head that are rotated: `head_dim · partial_rotary_factor`
    /// (factor default 0.25). Multimodal RoPE sections reduce to this for text.
    pub rotary_dim: usize,
    /// Rotary θ.
    pub rope_theta: f64,
    /// RMSNorm epsilon (every norm, including the GatedDeltaNet output norm).
    pub rms_norm_eps: f64,
    /// GatedDeltaNet sizes.
    pub linear: LinearAttentionConfig,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Routed experts per MoE layer.
    pub num_experts: usize,
    /// Experts each token is routed to.
    pub num_experts_per_tok: usize,
    /// Intermediate width of one routed expert.
    pub moe_intermediate_size: usize,
    /// Intermediate width of the shared expert of every MoE layer.
    pub shared_expert_intermediate_size: usize,
    /// Intermediate width of the dense MLP layers (Qwen3-Next's `mlp_only_layers` and the layers
    /// `decoder_sparse_step` skips); `None` when every layer is sparse.
    pub intermediate_size: Option<usize>,
    /// Whether the top-k router probabilities are renormalized (always for Qwen3.5).
    pub norm_topk_prob: bool,
    /// Every `decoder_sparse_step`-th layer is sparse (Qwen3-Next; 1 for Qwen3.5).
    pub decoder_sparse_step: usize,
    /// Layers forced to a dense MLP (Qwen3-Next; empty for Qwen3.5).
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

impl HybridConfig {
    /// Parses and checks `config` as `variant`. For a multimodal Qwen3.5 checkpoint pass its
    /// whole `config.json`: the text model's fields are read from `text_config` (the error
    /// messages name them `text_config.…`), `tie_word_embeddings` from the top level as
    /// transformers' `Qwen3_5MoeForConditionalGeneration` does.
    pub fn from_json(config: &Value, variant: HybridVariant) -> Result<Self, ModelError> {
        let top = ConfigFields::new(config)?;
        let (f, tie_word_embeddings) = match top.nested("text_config")? {
            Some(text) => (text, top.bool_or("tie_word_embeddings", false)?),
            None => (top, top.bool_or("tie_word_embeddings", false)?),
        };
        check_model_type(&f, variant.model_type())?;
        check_silu(&f)?;
        check_no_attention_bias(&f)?;
        let hidden_size = f.positive("hidden_size")?;
        let num_hidden_layers = f.positive("num_hidden_layers")?;
        let num_attention_heads = f.positive("num_attention_heads")?;
        let num_key_value_heads = f.positive("num_key_value_heads")?;
        if num_attention_heads % num_key_value_heads != 0 {
            return Err(ModelError::config(
                f.name("num_key_value_heads"),
                format!("{num_key_value_heads} does not divide num_attention_heads ({num_attention_heads})"),
            ));
        }
        let head_dim = f.opt_usize("head_dim")?.unwrap_or(256);
        if head_dim == 0 {
            return Err(ModelError::config(f.name("head_dim"), "must be at least 1"));
        }
        let rms_norm_eps = f.f64("rms_norm_eps")?;
        if !(rms_norm_eps.is_finite() && rms_norm_eps > 0.0) {
            return Err(ModelError::config(
                f.name("rms_norm_eps"),
                format!("must be a positive number, found {rms_norm_eps}"),
            ));
        }
        let rope = RopeConfig::parse(&f)?;
        let rotary_dim = rotary_dim(&f, head_dim, rope.partial_rotary_factor)?;
        let layer_types = layer_types(&f, num_hidden_layers)?;
        let linear = linear_attention(&f)?;
        let num_experts = num_experts(&f)?;
        let (decoder_sparse_step, mlp_only_layers, norm_topk_prob) = match variant {
            HybridVariant::Qwen3Next => {
                let step = f.opt_usize("decoder_sparse_step")?.unwrap_or(1);
                if step == 0 {
                    return Err(ModelError::config(
                        f.name("decoder_sparse_step"),
                        "must be at least 1",
                    ));
                }
                let only = f.usize_list("mlp_only_layers")?;
                if let Some(&bad) = only.iter().find(|&&l| l >= num_hidden_layers) {
                    return Err(ModelError::config(
                        f.name("mlp_only_layers"),
                        format!(
                            "layer {bad} does not exist (num_hidden_layers is {num_hidden_layers})"
                        ),
                    ));
                }
                (step, only, f.bool_or("norm_topk_prob", true)?)
            }
            HybridVariant::Qwen35Moe => (1, Vec::new(), true),
        };
        let mut config = Self {
            variant,
            hidden_size,
            layer_types,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rotary_dim,
            rope_theta: rope.theta,
            rms_norm_eps,
            linear,
            vocab_size: f.positive("vocab_size")?,
            num_experts,
            num_experts_per_tok: experts_per_token(&f, num_experts)?,
            moe_intermediate_size: f.positive("moe_intermediate_size")?,
            shared_expert_intermediate_size: f.positive("shared_expert_intermediate_size")?,
            intermediate_size: None,
            norm_topk_prob,
            decoder_sparse_step,
            mlp_only_layers,
            tie_word_embeddings,
            max_position_embeddings: f.positive("max_position_embeddings")?,
            bos_token_id: f.token_ids("bos_token_id")?.first().copied(),
            eos_token_ids: f.token_ids("eos_token_id")?,
        };
        if (0..num_hidden_layers).any(|l| !config.is_sparse_layer(l)) {
            config.intermediate_size = Some(f.positive("intermediate_size")?);
        }
        Ok(config)
    }

    /// Decoder layers.
    pub fn num_hidden_layers(&self) -> usize {
        self.layer_types.len()
    }

    /// Whether decoder layer `layer` has a sparse MoE block (routed plus shared expert), else a
    /// dense SwiGLU MLP: always for Qwen3.5; for Qwen3-Next as transformers'
    /// `Qwen3NextDecoderLayer` decides (not in `mlp_only_layers`, and
    /// `(layer + 1) % decoder_sparse_step == 0`).
    pub fn is_sparse_layer(&self, layer: usize) -> bool {
        !self.mlp_only_layers.contains(&layer)
            && (layer + 1).is_multiple_of(self.decoder_sparse_step)
    }
}

/// `head_dim · partial_rotary_factor` (default 0.25 here, unlike other architectures), even.
fn rotary_dim(
    f: &ConfigFields<'_>,
    head_dim: usize,
    parsed_factor: f64,
) -> Result<usize, ModelError> {
    let given = f
        .nested("rope_parameters")?
        .is_some_and(|p| p.get("partial_rotary_factor").is_some())
        || f.get("partial_rotary_factor").is_some();
    let factor = if given { parsed_factor } else { 0.25 };
    // transformers: int(head_dim * partial_rotary_factor).
    let rotary = (head_dim as f64 * factor) as usize;
    if !rotary.is_multiple_of(2) {
        return Err(ModelError::config(
            f.name("partial_rotary_factor"),
            format!("{factor} × head_dim {head_dim} gives {rotary} rotary dimensions, which must be even"),
        ));
    }
    Ok(rotary)
}

/// `layer_types`, else every `full_attention_interval`-th layer (default 4) full attention.
fn layer_types(f: &ConfigFields<'_>, layers: usize) -> Result<Vec<LayerType>, ModelError> {
    let Some(list) = f.get("layer_types") else {
        let interval = f.opt_usize("full_attention_interval")?.unwrap_or(4);
        if interval == 0 {
            return Err(ModelError::config(
                f.name("full_attention_interval"),
                "must be at least 1",
            ));
        }
        return Ok((0..layers)
            .map(|i| {
                if (i + 1) % interval == 0 {
                    LayerType::FullAttention
                } else {
                    LayerType::LinearAttention
                }
            })
            .collect());
    };
    let field = f.name("layer_types");
    let items = list.as_array().ok_or_else(|| {
        ModelError::config(
            &field,
            format!("expected a list of layer types, found {list}"),
        )
    })?;
    if items.len() != layers {
        return Err(ModelError::config(
            &field,
            format!("{} entries, but num_hidden_layers is {layers}", items.len()),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.as_str() {
            Some("full_attention") => Ok(LayerType::FullAttention),
            Some("linear_attention") => Ok(LayerType::LinearAttention),
            _ => Err(ModelError::config(
                &field,
                format!("layer {i}: unknown layer type {item} (expected \"full_attention\" or \"linear_attention\")"),
            )),
        })
        .collect()
}

/// The `linear_*` sizes, checked: value heads a multiple of key heads, a kernel of at least 2.
fn linear_attention(f: &ConfigFields<'_>) -> Result<LinearAttentionConfig, ModelError> {
    let key_heads = f.positive("linear_num_key_heads")?;
    let value_heads = f.positive("linear_num_value_heads")?;
    if value_heads % key_heads != 0 {
        return Err(ModelError::config(
            f.name("linear_num_value_heads"),
            format!("{value_heads} is not a multiple of linear_num_key_heads ({key_heads})"),
        ));
    }
    let conv_kernel = f.positive("linear_conv_kernel_dim")?;
    if conv_kernel < 2 {
        return Err(ModelError::config(
            f.name("linear_conv_kernel_dim"),
            format!("must be at least 2, found {conv_kernel}"),
        ));
    }
    Ok(LinearAttentionConfig {
        key_heads,
        value_heads,
        key_dim: f.positive("linear_key_head_dim")?,
        value_dim: f.positive("linear_value_head_dim")?,
        conv_kernel,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn next() -> Value {
        json!({
            "model_type": "qwen3_next", "hidden_size": 64, "num_hidden_layers": 3,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1e7, "partial_rotary_factor": 0.25},
            "layer_types": ["linear_attention", "linear_attention", "full_attention"],
            "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 32,
            "linear_value_head_dim": 32, "linear_conv_kernel_dim": 4, "vocab_size": 512,
            "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 64,
            "shared_expert_intermediate_size": 128, "intermediate_size": 128,
            "max_position_embeddings": 4096, "eos_token_id": 511, "bos_token_id": 509
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

    fn err_field(v: Value, variant: HybridVariant) -> String {
        match HybridConfig::from_json(&v, variant) {
            Err(ModelError::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn parses_qwen3_next_with_transformers_defaults() {
        let c = HybridConfig::from_json(&next(), HybridVariant::Qwen3Next).unwrap();
        assert_eq!(c.rotary_dim, 8);
        assert_eq!(c.linear.conv_channels(), 256);
        assert!(c.norm_topk_prob);
        assert_eq!(c.layer_types[2], LayerType::FullAttention);
        let legacy = without(next(), "layer_types");
        let legacy = with(legacy, "full_attention_interval", json!(2));
        let legacy = with(without(legacy, "rope_parameters"), "rope_theta", json!(1e6));
        let c = HybridConfig::from_json(&legacy, HybridVariant::Qwen3Next).unwrap();
        assert_eq!(
            c.layer_types,
            vec![
                LayerType::LinearAttention,
                LayerType::FullAttention,
                LayerType::LinearAttention
            ]
        );
        assert_eq!(c.rotary_dim, 8, "partial_rotary_factor defaults to 0.25");
        assert_eq!(c.head_dim, 32);
        let c = HybridConfig::from_json(&without(next(), "head_dim"), HybridVariant::Qwen3Next)
            .unwrap();
        assert_eq!((c.head_dim, c.rotary_dim), (256, 64));
    }

    #[test]
    fn qwen3_5_reads_text_config_and_always_renormalizes() {
        let text = with(
            with(next(), "model_type", json!("qwen3_5_moe_text")),
            "norm_topk_prob",
            json!(false),
        );
        let full =
            json!({"model_type": "qwen3_5_moe", "text_config": text, "tie_word_embeddings": true});
        let c = HybridConfig::from_json(&full, HybridVariant::Qwen35Moe).unwrap();
        assert!(c.norm_topk_prob && c.tie_word_embeddings);
        assert!((0..3).all(|l| c.is_sparse_layer(l)));
        assert_eq!(c.intermediate_size, None);
        let bad = json!({"model_type": "qwen3_5_moe", "text_config": without(text, "linear_num_key_heads")});
        assert_eq!(
            err_field(bad, HybridVariant::Qwen35Moe),
            "text_config.linear_num_key_heads"
        );
    }

    #[test]
    fn dense_layers_need_intermediate_size() {
        let v = with(next(), "mlp_only_layers", json!([1]));
        let c = HybridConfig::from_json(&v, HybridVariant::Qwen3Next).unwrap();
        assert_eq!(c.intermediate_size, Some(128));
        assert!(!c.is_sparse_layer(1) && c.is_sparse_layer(0));
        assert_eq!(
            err_field(without(v, "intermediate_size"), HybridVariant::Qwen3Next),
            "intermediate_size"
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let q = HybridVariant::Qwen3Next;
        let cases = [
            (
                with(
                    next(),
                    "layer_types",
                    json!(["linear_attention", "sliding", "full_attention"]),
                ),
                "layer_types",
            ),
            (
                with(next(), "layer_types", json!(["full_attention"])),
                "layer_types",
            ),
            (
                with(next(), "linear_num_value_heads", json!(3)),
                "linear_num_value_heads",
            ),
            (
                with(next(), "num_key_value_heads", json!(3)),
                "num_key_value_heads",
            ),
            (
                with(next(), "linear_conv_kernel_dim", json!(1)),
                "linear_conv_kernel_dim",
            ),
            (with(next(), "head_dim", json!(12)), "partial_rotary_factor"),
            (with(next(), "model_type", json!("qwen3_moe")), "model_type"),
            (
                with(next(), "num_experts_per_tok", json!(5)),
                "num_experts_per_tok",
            ),
            (
                with(next(), "mlp_only_layers", json!([3])),
                "mlp_only_layers",
            ),
            (with(next(), "hidden_act", json!("gelu")), "hidden_act"),
            (
                without(next(), "shared_expert_intermediate_size"),
                "shared_expert_intermediate_size",
            ),
            (
                with(
                    without(next(), "layer_types"),
                    "full_attention_interval",
                    json!(0),
                ),
                "full_attention_interval",
            ),
        ];
        for (config, field) in cases {
            assert_eq!(err_field(config, q), field);
        }
    }
}
