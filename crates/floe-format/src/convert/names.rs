//! Source tensor names: normalising the text-model prefix, recognising expert tensors in each
//! layout, and the tensors that are skipped on purpose.

use super::config::Arch;

/// A projection of a SwiGLU expert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Part {
    Gate,
    Up,
    Down,
}

impl Part {
    /// All three, in blob order.
    pub(crate) const ALL: [Part; 3] = [Part::Gate, Part::Up, Part::Down];

    /// The name used in the manifest.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Part::Gate => "gate",
            Part::Up => "up",
            Part::Down => "down",
        }
    }

    /// Index in blob order.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// One of the three stored tensors of an MLX-quantized matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Plane {
    Weight,
    Scales,
    Biases,
}

/// What a (normalised) tensor name is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `model.layers.L.mlp.experts.E.{gate,up,down}_proj.weight`, or Mixtral's
    /// `...experts.E.{w1,w3,w2}.weight`.
    PerExpert { layer: u32, expert: u32, part: Part },
    /// `model.layers.L.mlp.experts.gate_up_proj` (`[E, 2I, H]`, gate first).
    FusedGateUp { layer: u32 },
    /// `model.layers.L.mlp.experts.down_proj` (`[E, H, I]`).
    FusedDown { layer: u32 },
    /// MLX `model.layers.L.mlp.switch_mlp.{gate,up,down}_proj.{weight,scales,biases}`
    /// (`[E, ...]`).
    Stacked {
        layer: u32,
        part: Part,
        plane: Plane,
    },
    /// Anything else: a dense tensor.
    Dense,
}

/// The name under which a stored tensor goes into the floe checkpoint: the text model's
/// `model.language_model.X` (HF multimodal) and `language_model.model.X` (MLX multimodal) become
/// `model.X`, MLX's `language_model.lm_head.weight` becomes `lm_head.weight`, and Mixtral's
/// `.block_sparse_moe.` becomes `.mlp.` (as transformers 5 renames it on load).
pub(crate) fn normalise(stored: &str, arch: Arch) -> String {
    let name = if let Some(rest) = stored.strip_prefix("model.language_model.") {
        format!("model.{rest}")
    } else if let Some(rest) = stored.strip_prefix("language_model.model.") {
        format!("model.{rest}")
    } else if let Some(rest) = stored.strip_prefix("language_model.") {
        rest.to_string()
    } else {
        stored.to_string()
    };
    if arch == Arch::Mixtral {
        name.replace(".block_sparse_moe.", ".mlp.")
    } else {
        name
    }
}

/// Why a stored tensor is deliberately left out, if it is: the vision encoder of a multimodal
/// checkpoint, and the multi-token-prediction head of Qwen3-Next / Qwen3.5.
pub(crate) fn skip_reason(stored: &str, source_arch: &str, arch: Arch) -> Option<&'static str> {
    let vision = [
        "model.visual.",
        "visual.",
        "vision_tower.",
        "model.vision_tower.",
    ];
    if source_arch == "qwen3_5_moe" && vision.iter().any(|p| stored.starts_with(p)) {
        return Some("vision encoder (floe runs the text model only)");
    }
    if matches!(arch, Arch::Qwen3Next | Arch::Qwen35MoeText)
        && (stored.starts_with("mtp.") || stored.contains(".mtp."))
    {
        return Some("multi-token-prediction head (not used by floe)");
    }
    None
}

/// Classifies a normalised name.
pub(crate) fn classify(name: &str) -> Kind {
    let Some(rest) = name.strip_prefix("model.layers.") else {
        return Kind::Dense;
    };
    let Some((layer, rest)) = rest.split_once('.') else {
        return Kind::Dense;
    };
    let (Ok(layer), Some(rest)) = (layer.parse::<u32>(), rest.strip_prefix("mlp.")) else {
        return Kind::Dense;
    };
    if let Some(rest) = rest.strip_prefix("experts.") {
        match rest {
            "gate_up_proj" => return Kind::FusedGateUp { layer },
            "down_proj" => return Kind::FusedDown { layer },
            _ => {}
        }
        let Some((expert, rest)) = rest.split_once('.') else {
            return Kind::Dense;
        };
        let Ok(expert) = expert.parse::<u32>() else {
            return Kind::Dense;
        };
        let part = match rest {
            "gate_proj.weight" | "w1.weight" => Part::Gate,
            "up_proj.weight" | "w3.weight" => Part::Up,
            "down_proj.weight" | "w2.weight" => Part::Down,
            _ => return Kind::Dense,
        };
        return Kind::PerExpert {
            layer,
            expert,
            part,
        };
    }
    if let Some(rest) = rest.strip_prefix("switch_mlp.") {
        let Some((proj, plane)) = rest.split_once('.') else {
            return Kind::Dense;
        };
        let part = match proj {
            "gate_proj" => Part::Gate,
            "up_proj" => Part::Up,
            "down_proj" => Part::Down,
            _ => return Kind::Dense,
        };
        let plane = match plane {
            "weight" => Plane::Weight,
            "scales" => Plane::Scales,
            "biases" => Plane::Biases,
            _ => return Kind::Dense,
        };
        return Kind::Stacked { layer, part, plane };
    }
    Kind::Dense
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalised() {
        let q = Arch::Qwen35MoeText;
        assert_eq!(
            normalise("model.language_model.layers.0.mlp.gate.weight", q),
            "model.layers.0.mlp.gate.weight"
        );
        assert_eq!(
            normalise("language_model.model.norm.weight", q),
            "model.norm.weight"
        );
        assert_eq!(
            normalise("language_model.lm_head.weight", q),
            "lm_head.weight"
        );
        assert_eq!(normalise("lm_head.weight", q), "lm_head.weight");
        assert_eq!(
            normalise(
                "model.layers.3.block_sparse_moe.experts.1.w2.weight",
                Arch::Mixtral
            ),
            "model.layers.3.mlp.experts.1.w2.weight"
        );
    }

    #[test]
    fn expert_layouts_are_recognised() {
        assert_eq!(
            classify("model.layers.2.mlp.experts.7.up_proj.weight"),
            Kind::PerExpert {
                layer: 2,
                expert: 7,
                part: Part::Up
            }
        );
        assert_eq!(
            classify("model.layers.0.mlp.experts.1.w1.weight"),
            Kind::PerExpert {
                layer: 0,
                expert: 1,
                part: Part::Gate
            }
        );
        assert_eq!(
            classify("model.layers.5.mlp.experts.gate_up_proj"),
            Kind::FusedGateUp { layer: 5 }
        );
        assert_eq!(
            classify("model.layers.5.mlp.experts.down_proj"),
            Kind::FusedDown { layer: 5 }
        );
        assert_eq!(
            classify("model.layers.1.mlp.switch_mlp.down_proj.scales"),
            Kind::Stacked {
                layer: 1,
                part: Part::Down,
                plane: Plane::Scales
            }
        );
        assert_eq!(
            classify("model.layers.1.mlp.shared_expert.down_proj.weight"),
            Kind::Dense
        );
        assert_eq!(classify("model.layers.1.mlp.gate.weight"), Kind::Dense);
        assert_eq!(classify("model.embed_tokens.weight"), Kind::Dense);
    }

    #[test]
    fn vision_and_mtp_are_skipped_only_where_expected() {
        let q = Arch::Qwen35MoeText;
        assert!(skip_reason("model.visual.blocks.0.attn.qkv.weight", "qwen3_5_moe", q).is_some());
        assert!(skip_reason(
            "model.visual.blocks.0.attn.qkv.weight",
            "qwen3_moe",
            Arch::Qwen3Moe
        )
        .is_none());
        assert!(skip_reason(
            "mtp.layers.0.mlp.gate.weight",
            "qwen3_next",
            Arch::Qwen3Next
        )
        .is_some());
        assert!(skip_reason("model.layers.0.mlp.gate.weight", "qwen3_5_moe", q).is_none());
    }
}
