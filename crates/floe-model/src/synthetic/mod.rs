//! Synthetic models: a byte-level tokenizer and random-weight Qwen3-MoE checkpoints written with
//! floe-format's [`CheckpointWriter`], for demos and tests. The weights are random, so the text
//! such a model writes is gibberish; what it exercises is the whole path (format, expert
//! streaming, compute, sampling, detokenization) at a realistic size.

pub mod tokenizer;

use std::path::{Path, PathBuf};

use floe_format::{CheckpointWriter, ExpertPartSpec};
use floe_quant::{QuantFormat, ScaleType};
use half::{bf16, f16};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::arch::qwen3_moe::QWEN3_MOE;
use crate::ModelError;

/// The shape and storage of a synthetic Qwen3-MoE checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyntheticSpec {
    /// Residual width.
    pub hidden_size: usize,
    /// Decoder layers (all sparse).
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Dimensions per head.
    pub head_dim: usize,
    /// Experts per layer.
    pub experts: usize,
    /// Experts per token.
    pub top_k: usize,
    /// Intermediate width of an expert.
    pub moe_intermediate_size: usize,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// Storage of the expert matrices.
    pub expert_format: QuantFormat,
    /// Storage of the dense matrices (norm weights are always f32).
    pub dense_format: QuantFormat,
    /// Seed of the weights.
    pub seed: u64,
    /// Whether to include the byte-level tokenizer (`tokenizer.json`, `tokenizer_config.json`).
    pub tokenizer: bool,
}

impl SyntheticSpec {
    /// The `floe demo` model: 8 layers of 48 q4 experts (≈ 340 MB of experts, 0.9 MB each),
    /// hidden size 1024, bf16 dense weights, the byte-level tokenizer.
    pub fn demo() -> Self {
        Self {
            hidden_size: 1024,
            layers: 8,
            heads: 8,
            kv_heads: 2,
            head_dim: 128,
            experts: 48,
            top_k: 4,
            moe_intermediate_size: 512,
            max_position_embeddings: 4096,
            expert_format: QuantFormat::Q4,
            dense_format: QuantFormat::Bf16,
            seed: 0x5eed,
            tokenizer: true,
        }
    }

    /// A tiny model for tests: 2 layers of 8 f32 experts (top-2), hidden size 64, f32 dense
    /// weights, a context of 64, the byte-level tokenizer.
    pub fn tiny() -> Self {
        Self {
            hidden_size: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            head_dim: 16,
            experts: 8,
            top_k: 2,
            moe_intermediate_size: 64,
            max_position_embeddings: 64,
            expert_format: QuantFormat::F32,
            dense_format: QuantFormat::F32,
            seed: 7,
            tokenizer: true,
        }
    }

    /// Bytes of one expert blob's matrices (without alignment padding).
    pub fn expert_bytes(&self) -> Result<usize, ModelError> {
        let (h, i) = (self.hidden_size, self.moe_intermediate_size);
        let f = self.expert_format;
        let m = |r, c| {
            f.matrix_bytes(r, c)
                .map_err(|e| ModelError::argument("expert_format", e.to_string()))
        };
        Ok(2 * m(i, h)? + m(h, i)?)
    }

    /// The HF `config.json` of the model (transformers 5 style).
    pub fn config_json(&self) -> Value {
        json!({
            "architectures": ["Qwen3MoeForCausalLM"],
            "model_type": QWEN3_MOE,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_theta": 1_000_000.0, "rope_type": "default"},
            "vocab_size": tokenizer::byte_level_vocab_size(),
            "num_local_experts": self.experts,
            "num_experts_per_tok": self.top_k,
            "moe_intermediate_size": self.moe_intermediate_size,
            "intermediate_size": 4 * self.hidden_size,
            "norm_topk_prob": true,
            "decoder_sparse_step": 1,
            "mlp_only_layers": [],
            "tie_word_embeddings": false,
            "max_position_embeddings": self.max_position_embeddings,
            "attention_bias": false,
            "use_sliding_window": false,
            "bos_token_id": null,
            "eos_token_id": tokenizer::byte_level_vocab_size() - 1,
        })
    }
}

/// The provenance recorded in a synthetic checkpoint's manifest: how to recognise one built from
/// the same spec by the same code.
pub fn provenance(spec: &SyntheticSpec) -> Value {
    json!({"synthetic": spec, "generator": format!("floe-model {}", env!("CARGO_PKG_VERSION"))})
}

/// Writes a random-weight Qwen3-MoE checkpoint of `spec` (with the byte-level tokenizer unless
/// `spec.tokenizer` is false) to `out`
/// (through `<out>.partial`, replaced atomically; an existing `out` is replaced only with
/// `force`). Memory use is one matrix at a time.
pub fn write_synthetic_qwen3_moe(
    out: &Path,
    spec: &SyntheticSpec,
    force: bool,
) -> Result<PathBuf, ModelError> {
    let vocab = tokenizer::byte_level_vocab_size();
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut w = CheckpointWriter::create(out, QWEN3_MOE, spec.config_json(), force)?;
    let json_bytes = |v: &Value| serde_json::to_vec_pretty(v).expect("JSON values serialize");
    if spec.tokenizer {
        w.write_extra_file(
            "tokenizer.json",
            &json_bytes(&tokenizer::byte_level_tokenizer()),
        )?;
        w.write_extra_file(
            "tokenizer_config.json",
            &json_bytes(&tokenizer::byte_level_tokenizer_config()),
        )?;
    }

    let (h, d) = (spec.hidden_size, spec.head_dim);
    let (q_width, kv_width) = (spec.heads * d, spec.kv_heads * d);
    let dense = spec.dense_format;
    let matrix = |w: &mut CheckpointWriter,
                  rng: &mut StdRng,
                  name: &str,
                  rows: usize,
                  cols: usize,
                  format: QuantFormat| {
        let bytes = random_matrix(rng, format, rows, cols)?;
        w.write_dense(name, &[rows, cols], format, &bytes)
            .map_err(ModelError::from)
    };
    matrix(
        &mut w,
        &mut rng,
        "model.embed_tokens.weight",
        vocab,
        h,
        QuantFormat::F32,
    )?;
    let ones = |n: usize| floe_quant::quantize(QuantFormat::F32, 1, n, &vec![1.0; n]);
    let ones = |n| ones(n).map_err(|e| ModelError::argument("synthetic", e.to_string()));
    for l in 0..spec.layers {
        let p = format!("model.layers.{l}");
        w.write_dense(
            &format!("{p}.input_layernorm.weight"),
            &[h],
            QuantFormat::F32,
            &ones(h)?,
        )?;
        w.write_dense(
            &format!("{p}.post_attention_layernorm.weight"),
            &[h],
            QuantFormat::F32,
            &ones(h)?,
        )?;
        w.write_dense(
            &format!("{p}.self_attn.q_norm.weight"),
            &[d],
            QuantFormat::F32,
            &ones(d)?,
        )?;
        w.write_dense(
            &format!("{p}.self_attn.k_norm.weight"),
            &[d],
            QuantFormat::F32,
            &ones(d)?,
        )?;
        matrix(
            &mut w,
            &mut rng,
            &format!("{p}.self_attn.q_proj.weight"),
            q_width,
            h,
            dense,
        )?;
        matrix(
            &mut w,
            &mut rng,
            &format!("{p}.self_attn.k_proj.weight"),
            kv_width,
            h,
            dense,
        )?;
        matrix(
            &mut w,
            &mut rng,
            &format!("{p}.self_attn.v_proj.weight"),
            kv_width,
            h,
            dense,
        )?;
        matrix(
            &mut w,
            &mut rng,
            &format!("{p}.self_attn.o_proj.weight"),
            h,
            q_width,
            dense,
        )?;
        matrix(
            &mut w,
            &mut rng,
            &format!("{p}.mlp.gate.weight"),
            spec.experts,
            h,
            QuantFormat::F32,
        )?;

        let parts = ExpertPartSpec::swiglu(spec.moe_intermediate_size, h, spec.expert_format);
        w.begin_expert_layer(l as u32, spec.experts as u32, &parts)?;
        for e in 0..spec.experts {
            let blobs: Vec<Vec<u8>> = parts
                .iter()
                .map(|p| random_matrix(&mut rng, p.format, p.rows, p.cols))
                .collect::<Result<_, _>>()?;
            let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
            w.write_expert_parts(l as u32, e as u32, &refs)?;
        }
    }
    w.write_dense("model.norm.weight", &[h], QuantFormat::F32, &ones(h)?)?;
    matrix(&mut w, &mut rng, "lm_head.weight", vocab, h, dense)?;
    Ok(w.finish(provenance(spec))?)
}

/// The stored bytes of a random `[rows, cols]` matrix whose values have mean 0 and standard
/// deviation `1 / sqrt(cols)` (so a matrix-vector product keeps the input's scale). Affine
/// formats are generated directly as random codes with one fixed scale and bias (fast enough for
/// hundreds of MB); other formats quantize uniform random values.
pub fn random_matrix(
    rng: &mut StdRng,
    format: QuantFormat,
    rows: usize,
    cols: usize,
) -> Result<Vec<u8>, ModelError> {
    let std = 1.0 / (cols as f64).sqrt();
    let bad = |e: floe_quant::QuantError| {
        ModelError::argument("synthetic", format!("[{rows}, {cols}] {format}: {e}"))
    };
    if let QuantFormat::Affine(a) = format {
        let planes = format.row_plane_bytes(cols);
        let levels = (1u32 << a.bits) as f64;
        // A uniform code in 0 .. levels has standard deviation sqrt((levels² - 1) / 12).
        let scale = std / ((levels * levels - 1.0) / 12.0).sqrt();
        let bias = -scale * (levels - 1.0) / 2.0;
        let mut bytes = vec![0u8; rows * planes[0]];
        rng.fill_bytes(&mut bytes);
        let groups = rows * cols / a.group_size as usize;
        for value in [scale, bias] {
            let encoded: Vec<u8> = match a.scale {
                ScaleType::F32 => (value as f32).to_le_bytes().to_vec(),
                ScaleType::F16 => f16::from_f64(value).to_le_bytes().to_vec(),
                ScaleType::Bf16 => bf16::from_f64(value).to_le_bytes().to_vec(),
            };
            for _ in 0..groups {
                bytes.extend_from_slice(&encoded);
            }
        }
        let expected = format.matrix_bytes(rows, cols).map_err(bad)?;
        debug_assert_eq!(bytes.len(), expected);
        return Ok(bytes);
    }
    // Uniform on [-a, a] has standard deviation a / sqrt(3).
    let a = (std * 3f64.sqrt()) as f32;
    let values: Vec<f32> = (0..rows * cols).map(|_| rng.random_range(-a..=a)).collect();
    floe_quant::quantize(format, rows, cols, &values).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_quant::QuantMatrix;

    fn stats(format: QuantFormat, rows: usize, cols: usize) -> (f64, f64) {
        let mut rng = StdRng::seed_from_u64(3);
        let bytes = random_matrix(&mut rng, format, rows, cols).unwrap();
        assert_eq!(bytes.len(), format.matrix_bytes(rows, cols).unwrap());
        let mut values = vec![0f32; rows * cols];
        QuantMatrix::new(format, rows, cols, &bytes)
            .unwrap()
            .dequantize(&mut values);
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }

    #[test]
    fn random_matrices_have_mean_zero_and_the_intended_scale() {
        for format in [
            QuantFormat::Q4,
            QuantFormat::Q2,
            QuantFormat::Q8_0,
            QuantFormat::Bf16,
            QuantFormat::F32,
        ] {
            let (rows, cols) = (64, 256);
            let (mean, std) = stats(format, rows, cols);
            let target = 1.0 / (cols as f64).sqrt();
            assert!(mean.abs() < 0.05 * target, "{format}: mean {mean}");
            assert!(
                (std / target - 1.0).abs() < 0.05,
                "{format}: std {std}, target {target}"
            );
        }
    }

    #[test]
    fn demo_spec_is_larger_than_a_small_cache_and_parses() {
        let spec = SyntheticSpec::demo();
        let total = spec.expert_bytes().unwrap() * spec.experts * spec.layers;
        assert!(total > 256 << 20, "{total}");
        let config =
            crate::arch::qwen3_moe::Qwen3MoeConfig::from_json(&spec.config_json()).unwrap();
        assert_eq!(config.vocab_size, tokenizer::byte_level_vocab_size());
        assert!((0..spec.layers).all(|l| config.is_sparse_layer(l)));
        assert_ne!(
            provenance(&spec),
            provenance(&SyntheticSpec { seed: 1, ..spec })
        );
    }
}
