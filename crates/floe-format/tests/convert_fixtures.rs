//! Converts every committed HF and MLX fixture and checks, against an independent safetensors
//! reader, that every source tensor arrived byte for byte where it belongs (dense tensors under
//! their normalised names, each expert's gate/up/down in its blob, MLX planes concatenated),
//! and that every source tensor is accounted for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use floe_format::convert::{convert, ConvertOptions};
use floe_format::{Checkpoint, ExpertSource, PreadExpertSource};
use floe_quant::QuantFormat;

/// A source tensor: dtype name, shape, bytes.
struct Tensor {
    dtype: String,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn fixture_dirs(kind: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures().join(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("config.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Every tensor of every safetensors file of `dir`, read with the `safetensors` crate.
fn load_source(dir: &Path) -> BTreeMap<String, Tensor> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            let bytes = std::fs::read(&path).unwrap();
            let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            for (name, view) in st.tensors() {
                let tensor = Tensor {
                    dtype: format!("{:?}", view.dtype()),
                    shape: view.shape().to_vec(),
                    bytes: view.data().to_vec(),
                };
                out.insert(name, tensor);
            }
        }
    }
    out
}

/// The stored names a floe tensor name may have come from.
fn stored_candidates(name: &str) -> Vec<String> {
    let mut out = vec![
        name.to_string(),
        name.replace(".mlp.", ".block_sparse_moe."),
    ];
    if let Some(rest) = name.strip_prefix("model.") {
        out.push(format!("model.language_model.{rest}"));
        out.push(format!("language_model.model.{rest}"));
    }
    out.push(format!("language_model.{name}"));
    out
}

fn take<'a>(
    source: &'a BTreeMap<String, Tensor>,
    used: &mut BTreeSet<String>,
    names: &[String],
) -> Option<&'a Tensor> {
    for name in names {
        if let Some(t) = source.get(name) {
            used.insert(name.clone());
            return Some(t);
        }
    }
    None
}

fn bf16_values(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
        .collect()
}

/// Checks `ckpt` (converted with default options) against the source tensors of `src`.
fn check_against_source(src: &Path, ckpt: &Checkpoint) {
    let source = load_source(src);
    let mut used = BTreeSet::new();
    let zero_centred = matches!(ckpt.arch(), "qwen3_next" | "qwen3_5_moe_text");
    let mlx = source.keys().any(|k| k.contains("switch_mlp"));
    for tensor in &ckpt.manifest().dense {
        let view = ckpt.dense(&tensor.name).unwrap();
        let candidates = stored_candidates(&tensor.name);
        let stored = take(&source, &mut used, &candidates)
            .unwrap_or_else(|| panic!("{}: no source for {}", src.display(), tensor.name));
        if stored.dtype == "U32" {
            let base = candidates
                .iter()
                .find(|c| source.contains_key(*c))
                .unwrap()
                .strip_suffix(".weight")
                .unwrap()
                .to_string();
            let scales = take(&source, &mut used, &[format!("{base}.scales")]).unwrap();
            let biases = take(&source, &mut used, &[format!("{base}.biases")]).unwrap();
            assert!(view.format.is_quantized(), "{}", tensor.name);
            assert_eq!(
                &view.bytes[..],
                &[stored.bytes.as_slice(), &scales.bytes, &biases.bytes].concat()[..],
                "{}",
                tensor.name
            );
            continue;
        }
        let is_norm = tensor.shape.len() == 1
            && [
                ".input_layernorm.weight",
                ".post_attention_layernorm.weight",
                "model.norm.weight",
                ".q_norm.weight",
                ".k_norm.weight",
            ]
            .iter()
            .any(|s| tensor.name.ends_with(s));
        if mlx && zero_centred && is_norm {
            // MLX stores 1 + w; floe stores w, like HF.
            assert_eq!(stored.dtype, "BF16");
            let expected: Vec<f32> = bf16_values(&stored.bytes).iter().map(|v| v - 1.0).collect();
            assert_eq!(bf16_values(&view.bytes), expected, "{}", tensor.name);
        } else {
            assert_eq!(&view.bytes[..], &stored.bytes[..], "{}", tensor.name);
        }
        let elements: usize = stored.shape.iter().product();
        assert_eq!(
            tensor.shape.iter().product::<u64>() as usize,
            elements,
            "{}",
            tensor.name
        );
    }

    let source_blobs = PreadExpertSource::new(Arc::new(Checkpoint::open(ckpt.dir()).unwrap()));
    for layer in &ckpt.manifest().expert_layers {
        let l = layer.layer;
        let experts: Vec<u32> = (0..layer.blobs.len() as u32).collect();
        let n = experts.len();
        source_blobs
            .fetch(l, &experts, &mut |e, blob| {
                let parts = ckpt.split_blob(l, &blob)?;
                for (part, view) in &parts {
                    let (proj, w) = match part.as_str() {
                        "gate" => ("gate_proj", "w1"),
                        "up" => ("up_proj", "w3"),
                        _ => ("down_proj", "w2"),
                    };
                    let per_expert = [
                        format!("model.layers.{l}.mlp.experts.{e}.{proj}.weight"),
                        format!("model.language_model.layers.{l}.mlp.experts.{e}.{proj}.weight"),
                        format!("model.layers.{l}.block_sparse_moe.experts.{e}.{w}.weight"),
                    ];
                    let expected: Vec<u8> = if let Some(t) = take(&source, &mut used, &per_expert) {
                        t.bytes.clone()
                    } else if let Some(t) = take(
                        &source,
                        &mut used,
                        &[
                            format!("model.layers.{l}.mlp.switch_mlp.{proj}.weight"),
                            format!("language_model.model.layers.{l}.mlp.switch_mlp.{proj}.weight"),
                            format!("model.layers.{l}.block_sparse_moe.switch_mlp.{proj}.weight"),
                        ],
                    ) {
                        let prefix = source
                            .keys()
                            .find(|k| {
                                k.ends_with(&format!("layers.{l}.mlp.switch_mlp.{proj}.weight"))
                                    || k.ends_with(&format!(
                                        "layers.{l}.block_sparse_moe.switch_mlp.{proj}.weight"
                                    ))
                            })
                            .unwrap()
                            .strip_suffix(".weight")
                            .unwrap()
                            .to_string();
                        let slice = |t: &Tensor| {
                            t.bytes[t.bytes.len() / n * e..t.bytes.len() / n * (e + 1)].to_vec()
                        };
                        let mut planes = slice(t);
                        if t.dtype == "U32" {
                            planes.extend(slice(
                                take(&source, &mut used, &[format!("{prefix}.scales")]).unwrap(),
                            ));
                            planes.extend(slice(
                                take(&source, &mut used, &[format!("{prefix}.biases")]).unwrap(),
                            ));
                        }
                        planes
                    } else {
                        let fused_name = if part == "down" {
                            "down_proj"
                        } else {
                            "gate_up_proj"
                        };
                        let fused = take(
                            &source,
                            &mut used,
                            &[
                                format!("model.layers.{l}.mlp.experts.{fused_name}"),
                                format!("model.language_model.layers.{l}.mlp.experts.{fused_name}"),
                            ],
                        )
                        .unwrap_or_else(|| panic!("no source for layer {l} expert {e} {part}"));
                        let per = fused.bytes.len() / n;
                        let slice = &fused.bytes[per * e..per * (e + 1)];
                        match part.as_str() {
                            "gate" => slice[..per / 2].to_vec(),
                            "up" => slice[per / 2..].to_vec(),
                            _ => slice.to_vec(),
                        }
                    };
                    assert_eq!(
                        &view.bytes[..],
                        &expected[..],
                        "layer {l} expert {e} {part}"
                    );
                }
                Ok(())
            })
            .unwrap();
    }
    let unused: Vec<&String> = source
        .keys()
        .filter(|k| !used.contains(*k))
        .filter(|k| !k.starts_with("model.visual."))
        .collect();
    assert!(
        unused.is_empty(),
        "{}: source tensors not in the checkpoint: {unused:?}",
        src.display()
    );
}

fn convert_fixture(src: &Path, out: &Path, options: &ConvertOptions) -> Checkpoint {
    let report = convert(src, out, options, &mut |_| {})
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    assert_eq!(report.out_dir, out);
    Checkpoint::open(out).unwrap()
}

#[test]
fn every_hf_fixture_converts_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = fixture_dirs("hf");
    assert!(
        dirs.len() >= 8,
        "expected the eight HF fixtures, found {dirs:?}"
    );
    for src in dirs {
        let out = tmp.path().join(src.file_name().unwrap());
        let ckpt = convert_fixture(&src, &out, &ConvertOptions::default());
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(src.join("config.json")).unwrap()).unwrap();
        assert_eq!(ckpt.config(), &config);
        let text = config.get("text_config").unwrap_or(&config);
        assert_eq!(
            ckpt.arch(),
            text["model_type"].as_str().unwrap(),
            "{}",
            src.display()
        );
        for name in [
            "tokenizer.json",
            "tokenizer_config.json",
            "generation_config.json",
            "config.json",
        ] {
            assert_eq!(
                std::fs::read(ckpt.extra_file(name).unwrap()).unwrap(),
                std::fs::read(src.join(name)).unwrap()
            );
        }
        check_against_source(&src, &ckpt);
    }
}

#[test]
fn every_mlx_fixture_converts_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = fixture_dirs("mlx-models");
    assert!(!dirs.is_empty());
    for src in dirs {
        let out = tmp.path().join(src.file_name().unwrap());
        let ckpt = convert_fixture(&src, &out, &ConvertOptions::default());
        for layer in &ckpt.manifest().expert_layers {
            for part in &layer.parts {
                assert!(
                    part.format.is_quantized(),
                    "{}: layer {} {}",
                    src.display(),
                    layer.layer,
                    part.name
                );
            }
        }
        assert!(ckpt.extra_file("chat_template.jinja").is_some());
        check_against_source(&src, &ckpt);
    }
}

#[test]
fn requested_formats_apply_to_experts_and_dense_matmuls_only() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures().join("hf/qwen3_5_moe");
    let options = ConvertOptions {
        expert_format: Some(QuantFormat::Q4),
        dense_format: Some(QuantFormat::Q8_0),
        force: false,
    };
    let ckpt = convert_fixture(&src, &tmp.path().join("q"), &options);
    for layer in &ckpt.manifest().expert_layers {
        assert!(layer.parts.iter().all(|p| p.format == QuantFormat::Q4));
    }
    let format = |name: &str| ckpt.dense(name).unwrap().format;
    assert_eq!(format("model.embed_tokens.weight"), QuantFormat::Q8_0);
    assert_eq!(format("lm_head.weight"), QuantFormat::Q8_0);
    assert_eq!(
        format("model.layers.0.linear_attn.in_proj_qkv.weight"),
        QuantFormat::Q8_0
    );
    assert_eq!(
        format("model.layers.0.mlp.shared_expert.down_proj.weight"),
        QuantFormat::Q8_0
    );
    for kept in [
        "model.layers.0.mlp.gate.weight",
        "model.layers.0.mlp.shared_expert_gate.weight",
        "model.layers.0.linear_attn.in_proj_a.weight",
        "model.layers.0.linear_attn.conv1d.weight",
        "model.layers.0.linear_attn.A_log",
        "model.norm.weight",
    ] {
        assert_eq!(format(kept), QuantFormat::Bf16, "{kept}");
    }

    // The quantized values are close to the source's.
    let source = load_source(&src);
    let dequantized = |format, rows, cols, bytes: &[u8]| {
        let matrix = floe_quant::QuantMatrix::new(format, rows, cols, bytes).unwrap();
        let mut out = vec![0f32; rows * cols];
        matrix.dequantize(&mut out);
        out
    };
    let max_error = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    };
    let embed = ckpt.dense("model.embed_tokens.weight").unwrap();
    let expected = bf16_values(&source["model.language_model.embed_tokens.weight"].bytes);
    let error = max_error(
        &dequantized(QuantFormat::Q8_0, 512, 64, &embed.bytes),
        &expected,
    );
    assert!(error < 0.01, "q8_0 embedding error {error}");
    let blob = PreadExpertSource::new(Arc::new(Checkpoint::open(ckpt.dir()).unwrap()))
        .read_blob(1, 5)
        .unwrap();
    let parts = ckpt.split_blob(1, &blob).unwrap();
    let fused =
        bf16_values(&source["model.language_model.layers.1.mlp.experts.gate_up_proj"].bytes);
    let per_expert = 128 * 64;
    let gate = &fused[5 * per_expert..5 * per_expert + per_expert / 2];
    let up = &fused[5 * per_expert + per_expert / 2..6 * per_expert];
    for (view, expected) in [(&parts[0].1, gate), (&parts[1].1, up)] {
        let values = dequantized(QuantFormat::Q4, view.rows, view.cols, &view.bytes);
        let error = max_error(&values, expected);
        assert!(error < 0.1, "q4 expert error {error}");
        let mean = values
            .iter()
            .zip(expected)
            .map(|(x, y)| (x - y).abs())
            .sum::<f32>()
            / values.len() as f32;
        assert!(mean < 0.03, "q4 expert mean error {mean}");
    }
}
