//! Synthetic checkpoints: random weights in real models' shapes, written straight into floe's
//! format with floe-format's [`CheckpointWriter`] (no HF files in between), so streaming can be
//! benchmarked at a realistic size without downloading a model. The weights are random: the
//! model runs (finite activations) but its text is gibberish and its routing has no locality —
//! use [`trace`](crate::trace) routing for cache studies.

mod hybrid;
mod preset;
mod random;

use std::path::{Path, PathBuf};

use floe_format::{CheckpointWriter, ExpertPartSpec};
use floe_quant::QuantFormat;
use serde_json::json;

pub use hybrid::HybridShape;
pub use preset::{Preset, PRESETS};
pub use random::{random_rows, WyRand};

use crate::StreamError;
use hybrid::{DenseTensor, Fill};

/// What to write.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    /// The model's shape (possibly cut to fewer layers).
    pub preset: Preset,
    /// Storage of the expert matrices.
    pub expert_format: QuantFormat,
    /// Storage of the dense matrices (attention, embeddings, LM head); norms are f32, the router
    /// is f32.
    pub dense_format: QuantFormat,
    /// Seed of the weights.
    pub seed: u64,
    /// BOS id recorded in `config.json`.
    pub bos_token_id: Option<u32>,
    /// EOS id recorded in `config.json`.
    pub eos_token_id: Option<u32>,
    /// Extra files to include (e.g. `tokenizer.json`), name and bytes.
    pub extra_files: Vec<(String, Vec<u8>)>,
    /// Replace an existing output directory.
    pub force: bool,
}

impl SynthOptions {
    /// `preset` with experts and dense matrices in `format`, seed 0, no tokenizer.
    pub fn new(preset: Preset, format: QuantFormat) -> Self {
        Self {
            preset,
            expert_format: format,
            dense_format: format,
            seed: 0,
            bos_token_id: None,
            eos_token_id: None,
            extra_files: Vec::new(),
            force: false,
        }
    }
}

/// One matrix of the model: name, `[rows, cols]`, format.
struct Matrix {
    name: String,
    rows: usize,
    cols: usize,
    format: QuantFormat,
}

/// Every dense tensor of the model, in writing order (norms as `[len]` f32 vectors of ones,
/// matrices random).
fn dense_tensors(options: &SynthOptions) -> Vec<(Matrix, bool)> {
    let p = &options.preset;
    let dense = options.dense_format;
    let m = |name: String, rows, cols, format| Matrix {
        name,
        rows,
        cols,
        format,
    };
    let mut out = vec![(
        m("model.embed_tokens.weight".into(), p.vocab, p.hidden, dense),
        false,
    )];
    for l in 0..p.layers {
        let at = |s: &str| format!("model.layers.{l}.{s}");
        out.push((
            m(at("input_layernorm.weight"), 1, p.hidden, QuantFormat::F32),
            true,
        ));
        out.push((
            m(
                at("post_attention_layernorm.weight"),
                1,
                p.hidden,
                QuantFormat::F32,
            ),
            true,
        ));
        out.push((
            m(
                at("self_attn.q_norm.weight"),
                1,
                p.head_dim,
                QuantFormat::F32,
            ),
            true,
        ));
        out.push((
            m(
                at("self_attn.k_norm.weight"),
                1,
                p.head_dim,
                QuantFormat::F32,
            ),
            true,
        ));
        out.push((
            m(
                at("self_attn.q_proj.weight"),
                p.q_heads * p.head_dim,
                p.hidden,
                dense,
            ),
            false,
        ));
        out.push((
            m(
                at("self_attn.k_proj.weight"),
                p.kv_heads * p.head_dim,
                p.hidden,
                dense,
            ),
            false,
        ));
        out.push((
            m(
                at("self_attn.v_proj.weight"),
                p.kv_heads * p.head_dim,
                p.hidden,
                dense,
            ),
            false,
        ));
        out.push((
            m(
                at("self_attn.o_proj.weight"),
                p.hidden,
                p.q_heads * p.head_dim,
                dense,
            ),
            false,
        ));
        out.push((
            m(
                at("mlp.gate.weight"),
                p.experts as usize,
                p.hidden,
                QuantFormat::F32,
            ),
            false,
        ));
    }
    out.push((
        m("model.norm.weight".into(), 1, p.hidden, QuantFormat::F32),
        true,
    ));
    out.push((m("lm_head.weight".into(), p.vocab, p.hidden, dense), false));
    out
}

/// Every dense tensor of the checkpoint, in writing order: the hybrid plan for Qwen3.5 presets,
/// else [`dense_tensors`] (norms as vectors of ones).
fn dense_plan(options: &SynthOptions) -> Vec<DenseTensor> {
    if let Some(shape) = &options.preset.hybrid {
        return hybrid::dense_tensors(&options.preset, shape, options.dense_format);
    }
    dense_tensors(options)
        .into_iter()
        .map(|(m, ones)| DenseTensor {
            shape: if ones {
                vec![m.cols]
            } else {
                vec![m.rows, m.cols]
            },
            fill: if ones {
                Fill::Constant(1.0)
            } else {
                Fill::Random
            },
            name: m.name,
            rows: m.rows,
            cols: m.cols,
            format: m.format,
        })
        .collect()
}

fn shape_error(
    what: &str,
    rows: usize,
    cols: usize,
    format: QuantFormat,
    e: floe_quant::QuantError,
) -> StreamError {
    StreamError::Config(format!(
        "{what}: a [{rows}, {cols}] matrix cannot be stored as {format}: {e}"
    ))
}

/// Bytes of one expert blob's matrices.
pub fn expert_bytes(options: &SynthOptions) -> Result<u64, StreamError> {
    let p = &options.preset;
    let f = options.expert_format;
    let part = |rows, cols| {
        f.matrix_bytes(rows, cols)
            .map_err(|e| shape_error("expert", rows, cols, f, e))
    };
    Ok((2 * part(p.moe_intermediate, p.hidden)? + part(p.hidden, p.moe_intermediate)?) as u64)
}

/// Bytes the checkpoint's tensors take (dense plus experts, without alignment padding).
pub fn estimate_bytes(options: &SynthOptions) -> Result<u64, StreamError> {
    let mut total = expert_bytes(options)?
        * u64::from(options.preset.layers)
        * u64::from(options.preset.experts);
    for m in dense_plan(options) {
        total +=
            m.format
                .matrix_bytes(m.rows, m.cols)
                .map_err(|e| shape_error(&m.name, m.rows, m.cols, m.format, e))? as u64;
    }
    Ok(total)
}

/// Rows generated per chunk of a dense matrix (bounds memory for embeddings and LM heads).
const CHUNK_BYTES: usize = 8 << 20;

/// Writes the checkpoint to `out` (through `<out>.partial`, renamed when complete), calling
/// `progress(done, total)` in bytes as it goes. Memory use is one blob plus one 8 MiB chunk.
pub fn write_checkpoint(
    out: &Path,
    options: &SynthOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<PathBuf, StreamError> {
    let p = &options.preset;
    let total = estimate_bytes(options)?;
    let mut done = 0u64;
    let mut rng = WyRand::new(options.seed);
    let config = p.config_json(options.bos_token_id, options.eos_token_id);
    let mut writer = CheckpointWriter::create(out, p.arch(), config, options.force)?;
    for (name, bytes) in &options.extra_files {
        writer.write_extra_file(name, bytes)?;
    }
    let mut chunk = Vec::new();
    for tensor in dense_plan(options) {
        let DenseTensor {
            name,
            shape,
            rows,
            cols,
            format,
            fill,
        } = tensor;
        let row_bytes = format
            .matrix_bytes(1, cols)
            .map_err(|e| shape_error(&name, rows, cols, format, e))?;
        match fill {
            Fill::Constant(value) => {
                let values = vec![value; rows * cols];
                let bytes = floe_quant::quantize(format, rows, cols, &values)
                    .map_err(|e| shape_error(&name, rows, cols, format, e))?;
                writer.write_dense(&name, &shape, format, &bytes)?;
            }
            Fill::Random => {
                let mut tensor = writer.begin_dense(&name, &shape, format)?;
                let per_chunk = (CHUNK_BYTES / row_bytes).max(1);
                let mut written = 0;
                while written < rows {
                    let n = per_chunk.min(rows - written);
                    chunk.resize(n * row_bytes, 0);
                    random_rows(&mut rng, format, n, cols, &mut chunk);
                    tensor.write_rows(n, &chunk)?;
                    written += n;
                }
                tensor.finish()?;
            }
        }
        done += (rows * row_bytes) as u64;
        progress(done, total);
    }
    let parts = ExpertPartSpec::swiglu(p.moe_intermediate, p.hidden, options.expert_format);
    for layer in 0..p.layers {
        let layout = writer.begin_expert_layer(layer, p.experts, &parts)?.clone();
        let mut blob = vec![0u8; layout.blob_length as usize];
        for expert in 0..p.experts {
            for part in &layout.parts {
                let range = part.offset as usize..(part.offset + part.length) as usize;
                random_rows(
                    &mut rng,
                    part.format,
                    part.rows as usize,
                    part.cols as usize,
                    &mut blob[range],
                );
            }
            writer.write_expert(layer, expert, &blob)?;
            done += layout.parts.iter().map(|part| part.length).sum::<u64>();
            progress(done, total);
        }
    }
    let provenance = json!({
        "generator": format!("floe-stream {} synth", env!("CARGO_PKG_VERSION")),
        "preset": p.name,
        "layers": p.layers,
        "expert_format": options.expert_format.name(),
        "dense_format": options.dense_format.name(),
        "seed": options.seed,
    });
    Ok(writer.finish(provenance)?)
}

#[cfg(test)]
mod tests;
