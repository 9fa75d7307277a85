//! The exact tensors each architecture has, derived from its config (as transformers 5.24's
//! modeling code builds them), under floe's normalised names.

use super::config::{Arch, LayerType, ModelConfig};

/// What a dense tensor is, which decides whether `--dense-quant` may quantize it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A 2-D projection weight: quantized by `--dense-quant`.
    Matmul,
    /// The token embedding table: quantized by `--dense-quant`.
    Embedding,
    /// A router, gate or small decay projection: always kept float.
    Gate,
    /// An RMSNorm weight whose scale is `1 + w` (Qwen3-Next, Qwen3.5); MLX stores `1 + w`.
    ZeroCentredNorm,
    /// Any other small tensor (norms, biases, conv1d, A_log, dt_bias): always kept float.
    Other,
}

/// One expected dense tensor.
#[derive(Clone, Debug)]
pub(crate) struct DenseSpec {
    /// Normalised name.
    pub name: String,
    /// Logical shape.
    pub shape: Vec<u64>,
    /// What it is.
    pub role: Role,
    /// Whether the checkpoint may omit it (a tied `lm_head.weight`).
    pub optional: bool,
}

/// One expected MoE layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExpertSpec {
    pub layer: u32,
    pub experts: u64,
    pub intermediate: u64,
    pub hidden: u64,
}

/// Every tensor a model of `config` has.
pub(crate) struct Schema {
    pub dense: Vec<DenseSpec>,
    pub experts: Vec<ExpertSpec>,
}

impl Schema {
    /// The schema of `config`'s architecture at its sizes.
    pub(crate) fn of(config: &ModelConfig) -> Schema {
        let mut s = Builder {
            dense: Vec::new(),
            zero_centred: config.arch.zero_centred_norms(),
        };
        let c = config;
        let h = c.hidden;
        s.add("model.embed_tokens.weight", &[c.vocab, h], Role::Embedding);
        s.norm("model.norm.weight", h);
        s.dense.push(DenseSpec {
            name: "lm_head.weight".into(),
            shape: vec![c.vocab, h],
            role: Role::Matmul,
            optional: c.tie_embeddings,
        });
        let mut experts = Vec::new();
        for i in 0..c.layers {
            let p = format!("model.layers.{i}");
            s.norm(&format!("{p}.input_layernorm.weight"), h);
            s.norm(&format!("{p}.post_attention_layernorm.weight"), h);
            match c.layer_types[i as usize] {
                LayerType::FullAttention => s.attention(c, &format!("{p}.self_attn")),
                LayerType::LinearAttention => s.linear_attention(c, &format!("{p}.linear_attn")),
            }
            if c.sparse[i as usize] {
                s.add(&format!("{p}.mlp.gate.weight"), &[c.experts, h], Role::Gate);
                experts.push(ExpertSpec {
                    layer: i as u32,
                    experts: c.experts,
                    intermediate: c.expert_intermediate,
                    hidden: h,
                });
                if let Some(shared) = c.shared_intermediate {
                    s.mlp(&format!("{p}.mlp.shared_expert"), shared, h);
                    s.add(
                        &format!("{p}.mlp.shared_expert_gate.weight"),
                        &[1, h],
                        Role::Gate,
                    );
                }
            } else {
                s.mlp(&format!("{p}.mlp"), c.intermediate, h);
            }
        }
        Schema {
            dense: s.dense,
            experts,
        }
    }
}

struct Builder {
    dense: Vec<DenseSpec>,
    zero_centred: bool,
}

impl Builder {
    fn add(&mut self, name: &str, shape: &[u64], role: Role) {
        self.dense.push(DenseSpec {
            name: name.into(),
            shape: shape.to_vec(),
            role,
            optional: false,
        });
    }

    /// A decoder RMSNorm (zero-centred for the architectures that use that convention).
    fn norm(&mut self, name: &str, size: u64) {
        let role = if self.zero_centred {
            Role::ZeroCentredNorm
        } else {
            Role::Other
        };
        self.add(name, &[size], role);
    }

    fn linear(&mut self, prefix: &str, out: u64, inp: u64, bias: bool) {
        self.add(&format!("{prefix}.weight"), &[out, inp], Role::Matmul);
        if bias {
            self.add(&format!("{prefix}.bias"), &[out], Role::Other);
        }
    }

    fn mlp(&mut self, prefix: &str, intermediate: u64, hidden: u64) {
        self.linear(&format!("{prefix}.gate_proj"), intermediate, hidden, false);
        self.linear(&format!("{prefix}.up_proj"), intermediate, hidden, false);
        self.linear(&format!("{prefix}.down_proj"), hidden, intermediate, false);
    }

    fn attention(&mut self, c: &ModelConfig, p: &str) {
        let (h, hd) = (c.hidden, c.head_dim);
        let bias = c.attention_bias && c.arch != Arch::Mixtral;
        // Qwen3-Next and Qwen3.5 project twice the query width: the second half is an output gate.
        let q_width = match c.arch {
            Arch::Qwen3Next | Arch::Qwen35MoeText => 2 * c.heads * hd,
            _ => c.heads * hd,
        };
        self.linear(&format!("{p}.q_proj"), q_width, h, bias);
        self.linear(&format!("{p}.k_proj"), c.kv_heads * hd, h, bias);
        self.linear(&format!("{p}.v_proj"), c.kv_heads * hd, h, bias);
        self.linear(&format!("{p}.o_proj"), h, c.heads * hd, bias);
        match c.arch {
            Arch::Mixtral => {}
            // OLMoE normalises whole projections: q over the hidden size, k over the kv width
            // computed with hidden / heads.
            Arch::Olmoe => {
                self.add(&format!("{p}.q_norm.weight"), &[h], Role::Other);
                self.add(
                    &format!("{p}.k_norm.weight"),
                    &[h / c.heads * c.kv_heads],
                    Role::Other,
                );
            }
            _ => {
                self.norm(&format!("{p}.q_norm.weight"), hd);
                self.norm(&format!("{p}.k_norm.weight"), hd);
            }
        }
    }

    fn linear_attention(&mut self, c: &ModelConfig, p: &str) {
        let d = c.linear.expect("linear architectures have linear sizes");
        let h = c.hidden;
        let key = d.key_heads * d.key_dim;
        let value = d.value_heads * d.value_dim;
        let conv = 2 * key + value;
        if c.arch == Arch::Qwen3Next {
            self.add(
                &format!("{p}.in_proj_qkvz.weight"),
                &[2 * key + 2 * value, h],
                Role::Matmul,
            );
            self.add(
                &format!("{p}.in_proj_ba.weight"),
                &[2 * d.value_heads, h],
                Role::Gate,
            );
        } else {
            self.add(&format!("{p}.in_proj_qkv.weight"), &[conv, h], Role::Matmul);
            self.add(&format!("{p}.in_proj_z.weight"), &[value, h], Role::Matmul);
            self.add(
                &format!("{p}.in_proj_b.weight"),
                &[d.value_heads, h],
                Role::Gate,
            );
            self.add(
                &format!("{p}.in_proj_a.weight"),
                &[d.value_heads, h],
                Role::Gate,
            );
        }
        self.add(
            &format!("{p}.conv1d.weight"),
            &[conv, 1, d.conv_kernel],
            Role::Other,
        );
        self.add(&format!("{p}.dt_bias"), &[d.value_heads], Role::Other);
        self.add(&format!("{p}.A_log"), &[d.value_heads], Role::Other);
        // The gated output norm is a plain RMSNorm (scale = w) in both.
        self.add(&format!("{p}.norm.weight"), &[d.value_dim], Role::Other);
        self.add(&format!("{p}.out_proj.weight"), &[h, value], Role::Matmul);
    }
}
