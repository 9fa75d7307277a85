//! Reading the source's `config.json`: which architecture, and the sizes the tensor schema
//! follows from.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::FormatError;

/// The `model_type`s the converter accepts.
pub const SUPPORTED_ARCHS: [&str; 6] = [
    "qwen3_moe",
    "qwen3_5_moe",
    "qwen3_5_moe_text",
    "qwen3_next",
    "mixtral",
    "olmoe",
];

/// A text-model architecture the converter knows the tensors of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arch {
    Qwen3Moe,
    Qwen35MoeText,
    Qwen3Next,
    Mixtral,
    Olmoe,
}

impl Arch {
    /// The name recorded in the manifest (the text model's `model_type`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Arch::Qwen3Moe => "qwen3_moe",
            Arch::Qwen35MoeText => "qwen3_5_moe_text",
            Arch::Qwen3Next => "qwen3_next",
            Arch::Mixtral => "mixtral",
            Arch::Olmoe => "olmoe",
        }
    }

    /// Whether the RMSNorm weights of the decoder are zero-centred (scale = 1 + w), the
    /// convention MLX converts away by adding 1.
    pub(crate) fn zero_centred_norms(self) -> bool {
        matches!(self, Arch::Qwen3Next | Arch::Qwen35MoeText)
    }
}

/// A decoder layer's token mixer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LayerType {
    FullAttention,
    LinearAttention,
}

/// Gated DeltaNet sizes (Qwen3-Next, Qwen3.5).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LinearDims {
    pub key_heads: u64,
    pub key_dim: u64,
    pub value_heads: u64,
    pub value_dim: u64,
    pub conv_kernel: u64,
}

/// MLX quantization parameters from the config (`quantization` or `quantization_config`).
#[derive(Clone, Debug)]
pub(crate) struct MlxQuantization {
    /// The whole object: defaults `bits`, `group_size`, `mode`, and per-module overrides.
    pub raw: serde_json::Map<String, Value>,
}

impl MlxQuantization {
    /// `(bits, group_size)` for module `module` (its stored name without `.weight`), or an error
    /// string.
    pub(crate) fn params(&self, module: &str) -> Result<(u64, u64), String> {
        let scope = match self.raw.get(module) {
            Some(Value::Object(o)) => o,
            _ => &self.raw,
        };
        let get = |key: &str| {
            scope
                .get(key)
                .or_else(|| self.raw.get(key))
                .and_then(Value::as_u64)
                .ok_or_else(|| {
                    format!("the quantization config has no integer \"{key}\" for {module}")
                })
        };
        if let Some(mode) = scope
            .get("mode")
            .or_else(|| self.raw.get("mode"))
            .and_then(Value::as_str)
        {
            if mode != "affine" {
                return Err(format!(
                    "MLX quantization mode \"{mode}\" is not supported (only affine)"
                ));
            }
        }
        Ok((get("bits")?, get("group_size")?))
    }
}

/// What the converter needs from `config.json`.
#[derive(Clone, Debug)]
pub(crate) struct ModelConfig {
    /// The config, verbatim.
    pub full: Value,
    /// The top-level `model_type`.
    pub source_arch: String,
    /// The text architecture.
    pub arch: Arch,
    pub hidden: u64,
    pub vocab: u64,
    pub layers: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub attention_bias: bool,
    pub tie_embeddings: bool,
    pub experts: u64,
    /// Intermediate size of each routed expert.
    pub expert_intermediate: u64,
    /// Intermediate size of dense MLP layers.
    pub intermediate: u64,
    /// Intermediate size of the shared expert (Qwen3-Next, Qwen3.5).
    pub shared_intermediate: Option<u64>,
    /// Which layers have routed experts.
    pub sparse: Vec<bool>,
    pub layer_types: Vec<LayerType>,
    pub linear: Option<LinearDims>,
    pub quantization: Option<MlxQuantization>,
}

impl ModelConfig {
    /// Reads and checks `dir/config.json`.
    pub(crate) fn read(dir: &Path) -> Result<Self, FormatError> {
        let path = dir.join("config.json");
        let text = std::fs::read(&path).map_err(|e| {
            FormatError::invalid(&path, format!("cannot read the model config: {e}"))
        })?;
        let full: Value = serde_json::from_slice(&text)
            .map_err(|e| FormatError::invalid(&path, format!("malformed JSON: {e}")))?;
        Self::from_value(path, full)
    }

    fn from_value(path: PathBuf, full: Value) -> Result<Self, FormatError> {
        let bad = |m: String| FormatError::invalid(&path, m);
        if !full.is_object() {
            return Err(bad("the config is not a JSON object".into()));
        }
        let source_arch = full
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no \"model_type\" string: cannot tell the architecture".into()))?
            .to_string();
        let arch = match source_arch.as_str() {
            "qwen3_moe" => Arch::Qwen3Moe,
            "qwen3_5_moe" | "qwen3_5_moe_text" => Arch::Qwen35MoeText,
            "qwen3_next" => Arch::Qwen3Next,
            "mixtral" => Arch::Mixtral,
            "olmoe" => Arch::Olmoe,
            other => {
                return Err(bad(format!(
                    "unsupported architecture \"{other}\" (supported: {})",
                    SUPPORTED_ARCHS.join(", ")
                )))
            }
        };
        let (text, prefix) = match full.get("text_config") {
            Some(t) if t.is_object() => (t.clone(), "text_config."),
            Some(_) => return Err(bad("\"text_config\" is not an object".into())),
            None if source_arch == "qwen3_5_moe" => {
                return Err(bad(
                    "a qwen3_5_moe config needs a \"text_config\" object".into()
                ))
            }
            None => (full.clone(), ""),
        };
        let reader = Fields {
            text: &text,
            full: &full,
            prefix,
            path: &path,
        };
        let hidden = reader.size("hidden_size")?;
        let heads = reader.size("num_attention_heads")?;
        let layers = reader.size("num_hidden_layers")?;
        if hidden == 0 || heads == 0 || layers == 0 || layers > 1 << 16 {
            return Err(bad(format!(
                "{prefix}hidden_size {hidden}, num_attention_heads {heads} or num_hidden_layers {layers} is out of range"
            )));
        }
        let default_head_dim = match arch {
            Arch::Qwen3Next | Arch::Qwen35MoeText => 256,
            _ => hidden / heads.max(1),
        };
        // transformers 5 writes Qwen3-MoE's and Mixtral's expert count as num_local_experts,
        // older configs and the other architectures as num_experts.
        let (experts_key, experts) = match reader.optional_size("num_experts")? {
            Some(n) => ("num_experts", n),
            None => ("num_local_experts", reader.size("num_local_experts").map_err(|_| {
                bad(format!("{prefix}num_experts (or num_local_experts) is missing (a non-negative integer is required)"))
            })?),
        };
        let intermediate_key = if matches!(arch, Arch::Mixtral | Arch::Olmoe) {
            "intermediate_size"
        } else {
            "moe_intermediate_size"
        };
        let mlp_only: Vec<u64> = match text.get("mlp_only_layers") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => v
                .as_array()
                .and_then(|a| a.iter().map(Value::as_u64).collect())
                .ok_or_else(|| {
                    bad(format!(
                        "{prefix}mlp_only_layers is not a list of layer indices"
                    ))
                })?,
        };
        let step = reader
            .optional_size("decoder_sparse_step")?
            .unwrap_or(1)
            .max(1);
        let sparse = (0..layers)
            .map(|i| match arch {
                Arch::Qwen3Moe | Arch::Qwen3Next => {
                    !mlp_only.contains(&i) && experts > 0 && (i + 1) % step == 0
                }
                _ => true,
            })
            .collect::<Vec<_>>();
        let linear_arch = matches!(arch, Arch::Qwen3Next | Arch::Qwen35MoeText);
        let layer_types = if linear_arch {
            reader.layer_types(layers)?
        } else {
            vec![LayerType::FullAttention; layers as usize]
        };
        let linear = if linear_arch {
            Some(LinearDims {
                key_heads: reader.size("linear_num_key_heads")?,
                key_dim: reader.size("linear_key_head_dim")?,
                value_heads: reader.size("linear_num_value_heads")?,
                value_dim: reader.size("linear_value_head_dim")?,
                conv_kernel: reader.size("linear_conv_kernel_dim")?,
            })
        } else {
            None
        };
        let needs_dense_mlp = sparse.iter().any(|s| !s);
        let experts_per_token = reader.size("num_experts_per_tok")?;
        if experts_per_token == 0 || experts_per_token > experts {
            return Err(bad(format!(
                "{prefix}num_experts_per_tok is {experts_per_token}, expected 1..={experts} ({prefix}{experts_key})"
            )));
        }
        let quantization = match full
            .get("quantization")
            .or_else(|| full.get("quantization_config"))
        {
            Some(Value::Object(raw)) => Some(MlxQuantization { raw: raw.clone() }),
            _ => None,
        };
        Ok(Self {
            hidden,
            vocab: reader.size("vocab_size")?,
            layers,
            heads,
            kv_heads: reader
                .optional_size("num_key_value_heads")?
                .unwrap_or(heads),
            head_dim: reader
                .optional_size("head_dim")?
                .unwrap_or(default_head_dim),
            attention_bias: reader.flag("attention_bias")?,
            tie_embeddings: reader.flag("tie_word_embeddings")?,
            experts,
            expert_intermediate: reader.size(intermediate_key)?,
            intermediate: if needs_dense_mlp {
                reader.size("intermediate_size")?
            } else {
                0
            },
            shared_intermediate: if linear_arch {
                Some(reader.size("shared_expert_intermediate_size")?)
            } else {
                None
            },
            sparse,
            layer_types,
            linear,
            quantization,
            source_arch,
            arch,
            full,
        })
    }
}

/// Typed access to the text config's fields, with errors naming the key.
struct Fields<'a> {
    text: &'a Value,
    full: &'a Value,
    prefix: &'a str,
    path: &'a Path,
}

impl Fields<'_> {
    fn bad(&self, m: String) -> FormatError {
        FormatError::invalid(self.path, m)
    }

    fn optional_size(&self, key: &str) -> Result<Option<u64>, FormatError> {
        match self.text.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                self.bad(format!(
                    "{}{key} is {v}, expected a non-negative integer",
                    self.prefix
                ))
            }),
        }
    }

    fn size(&self, key: &str) -> Result<u64, FormatError> {
        self.optional_size(key)?.ok_or_else(|| {
            self.bad(format!(
                "{}{key} is missing (a non-negative integer is required)",
                self.prefix
            ))
        })
    }

    /// A boolean that defaults to false; for a multimodal config, falls back to the top level.
    fn flag(&self, key: &str) -> Result<bool, FormatError> {
        match self.text.get(key).or_else(|| self.full.get(key)) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.bad(format!(
                "{}{key} is {v}, expected true or false",
                self.prefix
            ))),
        }
    }

    fn layer_types(&self, layers: u64) -> Result<Vec<LayerType>, FormatError> {
        match self.text.get("layer_types") {
            None | Some(Value::Null) => {
                let interval = self
                    .optional_size("full_attention_interval")?
                    .unwrap_or(4)
                    .max(1);
                Ok((0..layers)
                    .map(|i| {
                        if (i + 1) % interval == 0 {
                            LayerType::FullAttention
                        } else {
                            LayerType::LinearAttention
                        }
                    })
                    .collect())
            }
            Some(Value::Array(list)) => {
                if list.len() as u64 != layers {
                    return Err(self.bad(format!(
                        "{}layer_types has {} entries for {layers} layers",
                        self.prefix,
                        list.len()
                    )));
                }
                list.iter()
                    .enumerate()
                    .map(|(i, t)| match t.as_str() {
                        Some("full_attention") => Ok(LayerType::FullAttention),
                        Some("linear_attention") => Ok(LayerType::LinearAttention),
                        _ => Err(self.bad(format!(
                            "{}layer_types[{i}] is {t}, expected \"full_attention\" or \"linear_attention\"",
                            self.prefix
                        ))),
                    })
                    .collect()
            }
            Some(v) => Err(self.bad(format!(
                "{}layer_types is {v}, expected a list",
                self.prefix
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> Result<ModelConfig, String> {
        ModelConfig::from_value(PathBuf::from("config.json"), value).map_err(|e| e.to_string())
    }

    #[test]
    fn unknown_architecture_lists_the_supported_ones() {
        let err = parse(serde_json::json!({"model_type": "llama"})).unwrap_err();
        assert!(err.contains("unsupported architecture \"llama\""), "{err}");
        for arch in SUPPORTED_ARCHS {
            assert!(err.contains(arch), "{err}");
        }
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let err =
            parse(serde_json::json!({"model_type": "qwen3_moe", "hidden_size": 64})).unwrap_err();
        assert!(err.contains("num_attention_heads is missing"), "{err}");
        let err =
            parse(serde_json::json!({"model_type": "mixtral", "hidden_size": "big"})).unwrap_err();
        assert!(err.contains("hidden_size is \"big\""), "{err}");
        let err = parse(serde_json::json!({"model_type": "qwen3_5_moe"})).unwrap_err();
        assert!(err.contains("text_config"), "{err}");
        let err = parse(serde_json::json!([1, 2])).unwrap_err();
        assert!(err.contains("not a JSON object"), "{err}");
    }

    #[test]
    fn sparse_layers_follow_step_and_mlp_only_layers() {
        let config = parse(serde_json::json!({
            "model_type": "qwen3_moe", "hidden_size": 64, "num_attention_heads": 4,
            "num_hidden_layers": 6, "vocab_size": 10, "num_experts": 4, "num_experts_per_tok": 2,
            "moe_intermediate_size": 32, "intermediate_size": 96, "decoder_sparse_step": 2,
            "mlp_only_layers": [3]
        }))
        .unwrap();
        assert_eq!(config.sparse, vec![false, true, false, false, false, true]);
        assert_eq!(config.head_dim, 16);
        assert_eq!(config.kv_heads, 4);
    }

    #[test]
    fn mlx_quantization_overrides_apply_per_module() {
        let q = MlxQuantization {
            raw: serde_json::json!({"bits": 4, "group_size": 64, "m.gate": {"bits": 8, "group_size": 32}})
                .as_object()
                .unwrap()
                .clone(),
        };
        assert_eq!(q.params("m.up").unwrap(), (4, 64));
        assert_eq!(q.params("m.gate").unwrap(), (8, 32));
        let q = MlxQuantization {
            raw: serde_json::json!({"bits": 4, "group_size": 32, "mode": "mxfp4"})
                .as_object()
                .unwrap()
                .clone(),
        };
        assert!(q.params("x").unwrap_err().contains("mxfp4"));
    }
}
