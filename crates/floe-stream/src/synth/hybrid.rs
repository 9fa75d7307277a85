//! Hybrid (Qwen3.5-MoE) synthetic checkpoints: the GatedDeltaNet / gated-attention layer plan,
//! its dense tensors and the `qwen3_5_moe_text` `config.json`. The routed experts are written
//! exactly like Qwen3-MoE's (SwiGLU blobs), so only the dense part differs.

use floe_quant::QuantFormat;
use serde_json::{json, Value};

use super::Preset;

/// The Qwen3.5-MoE-specific dimensions of a [`Preset`].
#[derive(Clone, Debug, PartialEq)]
pub struct HybridShape {
    /// Layer `i` is full attention when `(i + 1) % full_attention_interval == 0`, else
    /// GatedDeltaNet.
    pub full_attention_interval: u32,
    /// GatedDeltaNet key (and query) heads (`linear_num_key_heads`).
    pub linear_key_heads: usize,
    /// Dimensions per GatedDeltaNet key head (`linear_key_head_dim`).
    pub linear_key_dim: usize,
    /// GatedDeltaNet value heads (`linear_num_value_heads`), a multiple of the key heads.
    pub linear_value_heads: usize,
    /// Dimensions per GatedDeltaNet value head (`linear_value_head_dim`).
    pub linear_value_dim: usize,
    /// Causal depthwise convolution kernel (`linear_conv_kernel_dim`).
    pub conv_kernel: usize,
    /// Intermediate width of the sigmoid-gated shared expert
    /// (`shared_expert_intermediate_size`).
    pub shared_intermediate: usize,
    /// Fraction of each full-attention head's dimensions that are rotated.
    pub partial_rotary_factor: f64,
}

impl HybridShape {
    /// Whether decoder layer `layer` is full attention (else GatedDeltaNet).
    pub fn is_full_attention(&self, layer: u32) -> bool {
        (layer + 1).is_multiple_of(self.full_attention_interval)
    }

    /// Channels of the GatedDeltaNet convolution (`[q | k | v]`).
    fn conv_channels(&self) -> usize {
        2 * self.linear_key_heads * self.linear_key_dim + self.value_width()
    }

    /// Width of the GatedDeltaNet value (and `z`) projection.
    fn value_width(&self) -> usize {
        self.linear_value_heads * self.linear_value_dim
    }
}

/// How a dense tensor's values are made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Fill {
    /// Random, standard deviation `1 / sqrt(cols)`.
    Random,
    /// Every value the same.
    Constant(f32),
}

/// One dense tensor of a synthetic checkpoint.
pub(super) struct DenseTensor {
    /// Tensor name.
    pub name: String,
    /// The recorded shape (`[rows, cols]` for matrices, `[len]` for vectors, `[C, 1, K]` for
    /// the convolution).
    pub shape: Vec<usize>,
    /// Rows as stored (product of all but the last dimension).
    pub rows: usize,
    /// Columns as stored (the last dimension).
    pub cols: usize,
    /// Storage format.
    pub format: QuantFormat,
    /// Its values.
    pub fill: Fill,
}

fn tensor(name: String, shape: &[usize], format: QuantFormat, fill: Fill) -> DenseTensor {
    let cols = *shape.last().expect("shapes have a dimension");
    DenseTensor {
        name,
        rows: shape[..shape.len() - 1].iter().product(),
        cols,
        shape: shape.to_vec(),
        format,
        fill,
    }
}

/// Zero-centred norms (`x · (1 + w)`) are neutral at `w = 0`.
const ZERO_CENTRED_NEUTRAL: Fill = Fill::Constant(0.0);

/// `A_log = 0` gives `-exp(A_log) = -1`: with `dt_bias = 0` the state decays by about a half per
/// token (`exp(-softplus(a))`), a sane middle of the trained range.
const A_LOG: Fill = Fill::Constant(0.0);
const DT_BIAS: Fill = Fill::Constant(0.0);

/// Every dense tensor of hybrid preset `p` (`shape` its hybrid part), in writing order.
pub(super) fn dense_tensors(
    p: &Preset,
    shape: &HybridShape,
    dense: QuantFormat,
) -> Vec<DenseTensor> {
    let f32 = QuantFormat::F32;
    let h = p.hidden;
    let mut out = vec![tensor(
        "model.embed_tokens.weight".into(),
        &[p.vocab, h],
        dense,
        Fill::Random,
    )];
    for l in 0..p.layers {
        let at = |s: &str| format!("model.layers.{l}.{s}");
        out.push(tensor(
            at("input_layernorm.weight"),
            &[h],
            f32,
            ZERO_CENTRED_NEUTRAL,
        ));
        out.push(tensor(
            at("post_attention_layernorm.weight"),
            &[h],
            f32,
            ZERO_CENTRED_NEUTRAL,
        ));
        if shape.is_full_attention(l) {
            let width = p.q_heads * p.head_dim;
            let kv = p.kv_heads * p.head_dim;
            let attn = |s: &str| at(&format!("self_attn.{s}"));
            // q_proj holds each head's query and its output gate.
            out.push(tensor(
                attn("q_proj.weight"),
                &[2 * width, h],
                dense,
                Fill::Random,
            ));
            out.push(tensor(attn("k_proj.weight"), &[kv, h], dense, Fill::Random));
            out.push(tensor(attn("v_proj.weight"), &[kv, h], dense, Fill::Random));
            out.push(tensor(
                attn("o_proj.weight"),
                &[h, width],
                dense,
                Fill::Random,
            ));
            out.push(tensor(
                attn("q_norm.weight"),
                &[p.head_dim],
                f32,
                ZERO_CENTRED_NEUTRAL,
            ));
            out.push(tensor(
                attn("k_norm.weight"),
                &[p.head_dim],
                f32,
                ZERO_CENTRED_NEUTRAL,
            ));
        } else {
            let lin = |s: &str| at(&format!("linear_attn.{s}"));
            let nv = shape.linear_value_heads;
            let channels = shape.conv_channels();
            let values = shape.value_width();
            out.push(tensor(
                lin("in_proj_qkv.weight"),
                &[channels, h],
                dense,
                Fill::Random,
            ));
            out.push(tensor(
                lin("in_proj_z.weight"),
                &[values, h],
                dense,
                Fill::Random,
            ));
            out.push(tensor(lin("in_proj_b.weight"), &[nv, h], f32, Fill::Random));
            out.push(tensor(lin("in_proj_a.weight"), &[nv, h], f32, Fill::Random));
            out.push(tensor(
                lin("conv1d.weight"),
                &[channels, 1, shape.conv_kernel],
                f32,
                Fill::Random,
            ));
            out.push(tensor(lin("A_log"), &[nv], f32, A_LOG));
            out.push(tensor(lin("dt_bias"), &[nv], f32, DT_BIAS));
            // The gated output norm is one-centred.
            out.push(tensor(
                lin("norm.weight"),
                &[shape.linear_value_dim],
                f32,
                Fill::Constant(1.0),
            ));
            out.push(tensor(
                lin("out_proj.weight"),
                &[h, values],
                dense,
                Fill::Random,
            ));
        }
        let mlp = |s: &str| at(&format!("mlp.{s}"));
        let si = shape.shared_intermediate;
        out.push(tensor(
            mlp("gate.weight"),
            &[p.experts as usize, h],
            f32,
            Fill::Random,
        ));
        out.push(tensor(
            mlp("shared_expert.gate_proj.weight"),
            &[si, h],
            dense,
            Fill::Random,
        ));
        out.push(tensor(
            mlp("shared_expert.up_proj.weight"),
            &[si, h],
            dense,
            Fill::Random,
        ));
        out.push(tensor(
            mlp("shared_expert.down_proj.weight"),
            &[h, si],
            dense,
            Fill::Random,
        ));
        out.push(tensor(
            mlp("shared_expert_gate.weight"),
            &[1, h],
            f32,
            Fill::Random,
        ));
    }
    out.push(tensor(
        "model.norm.weight".into(),
        &[h],
        f32,
        ZERO_CENTRED_NEUTRAL,
    ));
    out.push(tensor(
        "lm_head.weight".into(),
        &[p.vocab, h],
        dense,
        Fill::Random,
    ));
    out
}

/// The `qwen3_5_moe_text` `config.json` of hybrid preset `p` (as transformers 5.24 writes it:
/// `rope_parameters`, explicit `layer_types`).
pub(super) fn config_json(
    p: &Preset,
    shape: &HybridShape,
    bos: Option<u32>,
    eos: Option<u32>,
) -> Value {
    let layer_types: Vec<&str> = (0..p.layers)
        .map(|l| {
            if shape.is_full_attention(l) {
                "full_attention"
            } else {
                "linear_attention"
            }
        })
        .collect();
    json!({
        "architectures": ["Qwen3_5MoeForCausalLM"],
        "model_type": "qwen3_5_moe_text",
        "attention_bias": false,
        "attention_dropout": 0.0,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "dtype": "bfloat16",
        "head_dim": p.head_dim,
        "hidden_act": "silu",
        "hidden_size": p.hidden,
        "initializer_range": 0.02,
        "layer_types": layer_types,
        "linear_conv_kernel_dim": shape.conv_kernel,
        "linear_key_head_dim": shape.linear_key_dim,
        "linear_num_key_heads": shape.linear_key_heads,
        "linear_num_value_heads": shape.linear_value_heads,
        "linear_value_head_dim": shape.linear_value_dim,
        "max_position_embeddings": p.max_position_embeddings,
        "moe_intermediate_size": p.moe_intermediate,
        "num_attention_heads": p.q_heads,
        "num_experts": p.experts,
        "num_experts_per_tok": p.top_k,
        "num_hidden_layers": p.layers,
        "num_key_value_heads": p.kv_heads,
        "output_router_logits": false,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": p.rope_theta,
            "partial_rotary_factor": shape.partial_rotary_factor,
        },
        "router_aux_loss_coef": 0.001,
        "shared_expert_intermediate_size": shape.shared_intermediate,
        "tie_word_embeddings": false,
        "use_cache": true,
        "vocab_size": p.vocab,
    })
}

#[cfg(test)]
mod tests {
    use floe_quant::QuantFormat;

    use crate::synth::{estimate_bytes, expert_bytes, Preset, SynthOptions};

    #[test]
    fn the_397b_preset_has_the_published_shape() {
        let p = Preset::named("qwen3.5-397b-a17b").unwrap();
        let shape = p.hybrid.clone().unwrap();
        let full: Vec<u32> = (0..p.layers)
            .filter(|&l| shape.is_full_attention(l))
            .collect();
        assert_eq!(full.len(), 15);
        assert_eq!(&full[..2], &[3, 7]);
        let config = p.clone().with_layers(4).unwrap().config_json(None, Some(1));
        assert_eq!(config["model_type"], "qwen3_5_moe_text");
        assert_eq!(config["num_hidden_layers"], 4);
        assert_eq!(config["layer_types"][3], "full_attention");
        assert_eq!(config["linear_num_value_heads"], 64);
        assert_eq!(config["rope_parameters"]["partial_rotary_factor"], 0.25);
        // 4096 → 1024 → 4096 SwiGLU in q4 (0.5625 bytes a weight): about 7 MB an expert.
        let options = SynthOptions::new(p.with_layers(1).unwrap(), QuantFormat::Q4);
        let blob = expert_bytes(&options).unwrap();
        assert_eq!(blob, 3 * 4096 * 1024 * 9 / 16);
        assert!(estimate_bytes(&options).unwrap() > 512 * blob);
    }
}
