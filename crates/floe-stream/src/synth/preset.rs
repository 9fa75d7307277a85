//! Model shapes for synthetic checkpoints: real Qwen3-MoE models' dimensions and tiny ones for
//! tests, and the HF `config.json` each implies.

use serde_json::{json, Value};

use super::hybrid::{self, HybridShape};
use crate::StreamError;

/// The dimensions of a Qwen3-MoE model (every layer sparse).
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// The preset's name (`qwen3-30b-a3b`, …).
    pub name: &'static str,
    /// Decoder layers.
    pub layers: u32,
    /// Residual width (`hidden_size`).
    pub hidden: usize,
    /// Routed experts per layer.
    pub experts: u32,
    /// Experts per token.
    pub top_k: u32,
    /// Intermediate width of one expert (`moe_intermediate_size`).
    pub moe_intermediate: usize,
    /// `intermediate_size` (of a dense MLP; recorded in the config, unused as every layer is
    /// sparse).
    pub intermediate: usize,
    /// Query heads.
    pub q_heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Dimensions per head.
    pub head_dim: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// The GatedDeltaNet / shared-expert dimensions of a hybrid Qwen3.5-MoE preset
    /// (`qwen3_5_moe_text`); `None` for Qwen3-MoE (`qwen3_moe`).
    pub hybrid: Option<HybridShape>,
}

/// Every preset.
pub const PRESETS: [Preset; 7] = [
    Preset {
        name: "qwen3-30b-a3b",
        layers: 48,
        hidden: 2048,
        experts: 128,
        top_k: 8,
        moe_intermediate: 768,
        intermediate: 6144,
        q_heads: 32,
        kv_heads: 4,
        head_dim: 128,
        vocab: 151_936,
        max_position_embeddings: 40_960,
        rope_theta: 1_000_000.0,
        hybrid: None,
    },
    Preset {
        name: "qwen3-235b-a22b",
        layers: 94,
        hidden: 4096,
        experts: 128,
        top_k: 8,
        moe_intermediate: 1536,
        intermediate: 12_288,
        q_heads: 64,
        kv_heads: 4,
        head_dim: 128,
        vocab: 151_936,
        max_position_embeddings: 40_960,
        rope_theta: 1_000_000.0,
        hybrid: None,
    },
    Preset {
        name: "small",
        layers: 8,
        hidden: 1024,
        experts: 64,
        top_k: 4,
        moe_intermediate: 512,
        intermediate: 2048,
        q_heads: 8,
        kv_heads: 2,
        head_dim: 128,
        vocab: 4096,
        max_position_embeddings: 4096,
        rope_theta: 1_000_000.0,
        hybrid: None,
    },
    Preset {
        name: "tiny",
        layers: 4,
        hidden: 256,
        experts: 16,
        top_k: 4,
        moe_intermediate: 128,
        intermediate: 512,
        q_heads: 4,
        kv_heads: 2,
        head_dim: 64,
        vocab: 512,
        max_position_embeddings: 4096,
        rope_theta: 1_000_000.0,
        hybrid: None,
    },
    // Qwen3.5-397B-A17B (research.md): full attention on every 4th layer, q_proj with output
    // gate, partial rotary 0.25, θ 1e7, a sigmoid-gated shared expert on every layer.
    Preset {
        name: "qwen3.5-397b-a17b",
        layers: 60,
        hidden: 4096,
        experts: 512,
        top_k: 10,
        moe_intermediate: 1024,
        intermediate: 1024,
        q_heads: 32,
        kv_heads: 2,
        head_dim: 256,
        vocab: 248_320,
        max_position_embeddings: 262_144,
        rope_theta: 10_000_000.0,
        hybrid: Some(HybridShape {
            full_attention_interval: 4,
            linear_key_heads: 16,
            linear_key_dim: 128,
            linear_value_heads: 64,
            linear_value_dim: 128,
            conv_kernel: 4,
            shared_intermediate: 1024,
            partial_rotary_factor: 0.25,
        }),
    },
    // Qwen3.5-35B-A3B: these dimensions are assumptions (the brief's fallback shape, not checked
    // against a released config.json); the rest as the 397B.
    Preset {
        name: "qwen3.5-35b-a3b",
        layers: 40,
        hidden: 2048,
        experts: 256,
        top_k: 8,
        moe_intermediate: 512,
        intermediate: 512,
        q_heads: 16,
        kv_heads: 2,
        head_dim: 256,
        vocab: 248_320,
        max_position_embeddings: 262_144,
        rope_theta: 10_000_000.0,
        hybrid: Some(HybridShape {
            full_attention_interval: 4,
            linear_key_heads: 16,
            linear_key_dim: 128,
            linear_value_heads: 32,
            linear_value_dim: 128,
            conv_kernel: 4,
            shared_intermediate: 512,
            partial_rotary_factor: 0.25,
        }),
    },
    // A tiny hybrid model for tests: layers 0-2 GatedDeltaNet, layer 3 full attention.
    Preset {
        name: "qwen3.5-tiny",
        layers: 4,
        hidden: 128,
        experts: 8,
        top_k: 2,
        moe_intermediate: 64,
        intermediate: 64,
        q_heads: 4,
        kv_heads: 2,
        head_dim: 32,
        vocab: 512,
        max_position_embeddings: 4096,
        rope_theta: 10_000_000.0,
        hybrid: Some(HybridShape {
            full_attention_interval: 4,
            linear_key_heads: 2,
            linear_key_dim: 32,
            linear_value_heads: 4,
            linear_value_dim: 32,
            conv_kernel: 4,
            shared_intermediate: 64,
            partial_rotary_factor: 0.25,
        }),
    },
];

impl Preset {
    /// The preset called `name`; the error lists the known ones.
    pub fn named(name: &str) -> Result<Preset, StreamError> {
        PRESETS
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
                StreamError::Config(format!(
                    "unknown preset '{name}' (known: {})",
                    known.join(", ")
                ))
            })
    }

    /// The same model cut to its first `layers` layers (`--layers`); 0 or more than the model
    /// has is an error.
    pub fn with_layers(mut self, layers: u32) -> Result<Preset, StreamError> {
        if layers == 0 || layers > self.layers {
            return Err(StreamError::Config(format!(
                "--layers {layers}: preset '{}' has {} layers (give 1 to {})",
                self.name, self.layers, self.layers
            )));
        }
        self.layers = layers;
        Ok(self)
    }

    /// The `model_type` the checkpoint records: `qwen3_5_moe_text` for hybrid presets, else
    /// `qwen3_moe`.
    pub fn arch(&self) -> &'static str {
        if self.hybrid.is_some() {
            "qwen3_5_moe_text"
        } else {
            "qwen3_moe"
        }
    }

    /// The model's HF `config.json` (`qwen3_moe` as the Qwen3 releases ship it, or
    /// `qwen3_5_moe_text` for hybrid presets), for a tokenizer whose BOS and EOS ids are `bos`
    /// and `eos`; a sliced preset's `num_hidden_layers` and `layer_types` say its layer count.
    pub fn config_json(&self, bos: Option<u32>, eos: Option<u32>) -> Value {
        if let Some(shape) = &self.hybrid {
            return hybrid::config_json(self, shape, bos, eos);
        }
        json!({
            "architectures": ["Qwen3MoeForCausalLM"],
            "model_type": "qwen3_moe",
            "attention_bias": false,
            "attention_dropout": 0.0,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "decoder_sparse_step": 1,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "hidden_size": self.hidden,
            "initializer_range": 0.02,
            "intermediate_size": self.intermediate,
            "max_position_embeddings": self.max_position_embeddings,
            "max_window_layers": self.layers,
            "mlp_only_layers": [],
            "moe_intermediate_size": self.moe_intermediate,
            "norm_topk_prob": true,
            "num_attention_heads": self.q_heads,
            "num_experts": self.experts,
            "num_experts_per_tok": self.top_k,
            "num_hidden_layers": self.layers,
            "num_key_value_heads": self.kv_heads,
            "output_router_logits": false,
            "rms_norm_eps": 1e-6,
            "rope_scaling": null,
            "rope_theta": self.rope_theta,
            "router_aux_loss_coef": 0.001,
            "sliding_window": null,
            "tie_word_embeddings": false,
            "torch_dtype": "bfloat16",
            "use_cache": true,
            "use_sliding_window": false,
            "vocab_size": self.vocab,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_found_and_sliced() {
        let p = Preset::named("qwen3-30b-a3b").unwrap();
        assert_eq!((p.layers, p.hidden, p.experts, p.top_k), (48, 2048, 128, 8));
        assert_eq!(p.clone().with_layers(12).unwrap().layers, 12);
        assert!(p
            .clone()
            .with_layers(49)
            .unwrap_err()
            .to_string()
            .contains("has 48 layers"));
        assert!(p.with_layers(0).is_err());
        let err = Preset::named("llama").unwrap_err().to_string();
        assert!(
            err.contains("unknown preset 'llama'") && err.contains("tiny"),
            "{err}"
        );
    }

    #[test]
    fn the_config_has_the_qwen3_moe_fields() {
        let p = Preset::named("qwen3-235b-a22b")
            .unwrap()
            .with_layers(3)
            .unwrap();
        let config = p.config_json(None, Some(7));
        assert_eq!(config["model_type"], "qwen3_moe");
        assert_eq!(config["num_hidden_layers"], 3);
        assert_eq!(config["hidden_size"], 4096);
        assert_eq!(config["moe_intermediate_size"], 1536);
        assert_eq!(config["num_attention_heads"], 64);
        assert_eq!(config["eos_token_id"], 7);
        assert!(config["bos_token_id"].is_null());
    }
}
