//! Helpers shared by the integration tests: a small checkpoint written with `CheckpointWriter`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use floe_format::{CheckpointWriter, ExpertPartSpec};
use floe_quant::QuantFormat;

/// Little-endian f32 bytes of `values`.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Deterministic values for tensor `seed`.
pub fn values(seed: u32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as u32).wrapping_mul(2654435761) ^ seed) as f32 / u32::MAX as f32 - 0.5)
        .collect()
}

/// The bytes of expert `expert` of `layer`'s part `part` (`[rows, cols]` f32) in the test
/// checkpoint.
pub fn part_bytes(layer: u32, expert: u32, part: usize, rows: usize, cols: usize) -> Vec<u8> {
    f32_bytes(&values(
        layer * 1000 + expert * 10 + part as u32,
        rows * cols,
    ))
}

/// Hidden size, intermediate size, experts per layer and MoE layers of the test checkpoint.
pub const HIDDEN: usize = 64;
/// Intermediate size of each expert.
pub const INTER: usize = 32;
/// Experts per layer.
pub const EXPERTS: u32 = 4;
/// MoE layers (0 and 2; layer 1 is dense-only).
pub const LAYERS: [u32; 2] = [0, 2];

/// Writes a small f32 checkpoint into `dir/name`: dense `model.embed_tokens.weight [16, 64]`,
/// `model.norm.weight [64]`, a 3-D `model.layers.1.linear_attn.conv1d.weight [8, 1, 4]`, and
/// experts of layers 0 and 2 (four each, SwiGLU 64→32→64, f32).
pub fn write_small_checkpoint(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let config = serde_json::json!({"model_type": "qwen3_moe", "hidden_size": HIDDEN});
    let mut writer = CheckpointWriter::create(&out, "qwen3_moe", config, false).unwrap();
    writer
        .write_extra_file("tokenizer.json", b"{\"fake\": true}")
        .unwrap();
    writer
        .write_dense(
            "model.embed_tokens.weight",
            &[16, HIDDEN],
            QuantFormat::F32,
            &f32_bytes(&values(1, 16 * HIDDEN)),
        )
        .unwrap();
    // Row-chunked writing of a float tensor.
    let norm = f32_bytes(&values(2, HIDDEN));
    let mut tensor = writer
        .begin_dense("model.norm.weight", &[HIDDEN], QuantFormat::F32)
        .unwrap();
    tensor.write_rows(1, &norm).unwrap();
    tensor.finish().unwrap();
    let conv = f32_bytes(&values(3, 32));
    let mut tensor = writer
        .begin_dense(
            "model.layers.1.linear_attn.conv1d.weight",
            &[8, 1, 4],
            QuantFormat::F32,
        )
        .unwrap();
    tensor.write_rows(3, &conv[..3 * 16]).unwrap();
    tensor.write_rows(5, &conv[3 * 16..]).unwrap();
    tensor.finish().unwrap();
    for layer in LAYERS {
        writer
            .begin_expert_layer(
                layer,
                EXPERTS,
                &ExpertPartSpec::swiglu(INTER, HIDDEN, QuantFormat::F32),
            )
            .unwrap();
        // Experts written out of order, alternately whole and by rows.
        for expert in (0..EXPERTS).rev() {
            let parts: Vec<Vec<u8>> = [(INTER, HIDDEN), (INTER, HIDDEN), (HIDDEN, INTER)]
                .iter()
                .enumerate()
                .map(|(p, &(r, c))| part_bytes(layer, expert, p, r, c))
                .collect();
            if expert % 2 == 0 {
                let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
                writer.write_expert_parts(layer, expert, &refs).unwrap();
            } else {
                let mut blob = writer.begin_expert(layer, expert).unwrap();
                for (p, name) in ["down", "gate", "up"].iter().enumerate() {
                    let index = [2, 0, 1][p];
                    let bytes = &parts[index];
                    let row = bytes.len() / if index == 2 { HIDDEN } else { INTER };
                    for chunk in bytes.chunks(row * 8) {
                        blob.write_part_rows(name, chunk.len() / row, chunk)
                            .unwrap();
                    }
                }
                blob.finish().unwrap();
            }
        }
    }
    writer
        .finish(serde_json::json!({"made_by": "test"}))
        .unwrap()
}
