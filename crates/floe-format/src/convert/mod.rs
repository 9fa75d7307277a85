//! Converting HF safetensors and MLX checkpoints into floe's format.
//!
//! [`convert`] reads the source's `config.json` (the `text_config` of a multimodal model),
//! checks every safetensors tensor against the architecture's exact schema (missing, extra and
//! wrongly shaped tensors are all reported at once), then streams tensor by tensor with
//! positioned reads of bounded chunks, so resident memory stays small whatever the model size.
//! Expert tensors in any of the HF layouts (per expert, fused `gate_up_proj`, Mixtral's
//! `w1`/`w2`/`w3`) or MLX's stacked `switch_mlp` become one blob per (layer, expert); MLX
//! quantized weights are copied byte for byte.

mod config;
mod copy;
mod names;
mod plan;
mod safetensors;
mod schema;

use std::path::{Path, PathBuf};

use floe_quant::QuantFormat;

pub use config::SUPPORTED_ARCHS;

use crate::{CheckpointWriter, ExpertPartSpec, FormatError};
use config::ModelConfig;
use copy::{copy_matrix, PartSink, Scratch};
use names::Part;
use plan::Plan;
use safetensors::SourceSet;

/// Files copied verbatim from the source when present (`config.json` always is).
pub const EXTRA_FILES: [&str; 6] = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
];

/// What to convert to.
#[derive(Clone, Debug, Default)]
pub struct ConvertOptions {
    /// Storage format of the routed experts (`--quant`); `None` keeps the source's (its float
    /// dtype, or an MLX source's quantized format).
    pub expert_format: Option<QuantFormat>,
    /// Storage format of dense 2-D projection weights and the embedding table
    /// (`--dense-quant`); `None` keeps the source's. Norms, biases, routers, gates, conv1d,
    /// `A_log`, `dt_bias` and other small tensors always keep their float dtype.
    pub dense_format: Option<QuantFormat>,
    /// Replace an existing output directory (only once the new checkpoint is complete).
    pub force: bool,
}

/// Progress of a conversion, reported through the callback of [`convert`].
#[derive(Clone, Debug)]
pub enum ConvertEvent<'a> {
    /// The source checked out; writing starts.
    Planned {
        /// The architecture written to the manifest.
        arch: &'a str,
        /// Source bytes that will be read.
        source_bytes: u64,
        /// Dense tensors that will be written.
        dense_tensors: usize,
        /// MoE layers.
        expert_layers: usize,
        /// Expert blobs in all.
        experts: usize,
    },
    /// A source tensor left out on purpose.
    Skipped {
        /// Its stored name.
        tensor: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// Something the user should know (a tensor kept float, a missing tokenizer file).
    Note(&'a str),
    /// Writing of a dense tensor or a layer's experts begins.
    Item(&'a str),
    /// Source bytes read so far.
    Progress {
        /// Bytes read so far.
        bytes_done: u64,
    },
}

/// What a finished conversion did.
#[derive(Clone, Debug)]
pub struct ConvertReport {
    /// The checkpoint directory.
    pub out_dir: PathBuf,
    /// The architecture written to the manifest.
    pub arch: String,
    /// The source's top-level `model_type`.
    pub source_arch: String,
    /// Whether the source was an MLX conversion.
    pub mlx_source: bool,
    /// Dense tensors written.
    pub dense_tensors: usize,
    /// MoE layers written.
    pub expert_layers: usize,
    /// Expert blobs written.
    pub experts: usize,
    /// Source bytes read.
    pub source_bytes: u64,
    /// Source tensors left out on purpose (stored name, reason).
    pub skipped: Vec<(String, String)>,
    /// Notes (tensors kept float, missing tokenizer files).
    pub notes: Vec<String>,
}

/// Converts the HF or MLX checkpoint directory `src` into a floe checkpoint at `out`.
///
/// Writes into `<out>.partial` and renames when complete; never writes inside `src`. Fails
/// with [`FormatError::OutputExists`] before reading anything if `out` exists and
/// `options.force` is false.
pub fn convert(
    src: &Path,
    out: &Path,
    options: &ConvertOptions,
    progress: &mut dyn FnMut(ConvertEvent<'_>),
) -> Result<ConvertReport, FormatError> {
    if out.symlink_metadata().is_ok() && !options.force {
        return Err(FormatError::OutputExists {
            path: out.to_path_buf(),
        });
    }
    if !src.is_dir() {
        return Err(FormatError::invalid(src, "the source is not a directory"));
    }
    check_output_outside_source(src, out)?;
    let config = ModelConfig::read(src)?;
    let set = SourceSet::open(src)?;
    let plan = Plan::build(src, &config, &set, options)?;
    let arch = config.arch.name();
    let mut notes = plan.notes.clone();
    for name in ["tokenizer.json", "tokenizer_config.json"] {
        if !src.join(name).is_file() {
            notes.push(format!(
                "the source has no {name}: the checkpoint will lack it"
            ));
        }
    }
    for (tensor, reason) in &plan.skipped {
        progress(ConvertEvent::Skipped { tensor, reason });
    }
    for note in &notes {
        progress(ConvertEvent::Note(note));
    }
    let source_bytes = plan.source_bytes();
    let experts: usize = plan.layers.iter().map(|l| l.experts.len()).sum();
    progress(ConvertEvent::Planned {
        arch,
        source_bytes,
        dense_tensors: plan.dense.len(),
        expert_layers: plan.layers.len(),
        experts,
    });

    let mut writer = CheckpointWriter::create(out, arch, config.full.clone(), options.force)?;
    for name in EXTRA_FILES {
        let path = src.join(name);
        if path.is_file() {
            writer.copy_extra_file(&path)?;
        }
    }
    let mut done = 0u64;
    let mut scratch = Scratch::default();
    write_dense(&mut writer, &set, &plan, &mut scratch, &mut done, progress)?;
    write_experts(&mut writer, &set, &plan, &mut scratch, &mut done, progress)?;
    let provenance = serde_json::json!({
        "converter": format!("floe-format {}", env!("CARGO_PKG_VERSION")),
        "source": std::path::absolute(src).unwrap_or_else(|_| src.to_path_buf()),
        "source_arch": config.source_arch,
        "source_format": if plan.mlx { "mlx" } else { "hf-safetensors" },
        "expert_format": options.expert_format.map(|f| f.name()),
        "dense_format": options.dense_format.map(|f| f.name()),
        "mlx_zero_centred_norms_restored": plan.mlx && config.arch.zero_centred_norms(),
        "skipped": plan.skipped.iter().map(|(t, r)| serde_json::json!({"tensor": t, "reason": r})).collect::<Vec<_>>(),
        "notes": notes,
    });
    let out_dir = writer.finish(provenance)?;
    Ok(ConvertReport {
        out_dir,
        arch: arch.to_string(),
        source_arch: config.source_arch.clone(),
        mlx_source: plan.mlx,
        dense_tensors: plan.dense.len(),
        expert_layers: plan.layers.len(),
        experts,
        source_bytes,
        skipped: plan
            .skipped
            .iter()
            .map(|(t, r)| (t.clone(), r.to_string()))
            .collect(),
        notes,
    })
}

fn write_dense(
    writer: &mut CheckpointWriter,
    set: &SourceSet,
    plan: &Plan,
    scratch: &mut Scratch,
    done: &mut u64,
    progress: &mut dyn FnMut(ConvertEvent<'_>),
) -> Result<(), FormatError> {
    // In source order, so the source files are read front to back.
    let mut order: Vec<&plan::DensePlan> = plan.dense.iter().collect();
    order.sort_by_key(|d| {
        (
            d.source.planes[0].tensor.file,
            d.source.planes[0].tensor.offset,
        )
    });
    for dense in order {
        progress(ConvertEvent::Item(&dense.name));
        tracing::debug!(tensor = %dense.name, format = %dense.target, "writing dense tensor");
        let shape: Vec<usize> = dense.shape.iter().map(|&d| d as usize).collect();
        let mut tensor = writer.begin_dense(&dense.name, &shape, dense.target)?;
        copy_matrix(
            set,
            &dense.source,
            dense.target,
            dense.transform,
            &dense.name,
            &mut tensor,
            scratch,
            &mut |n| {
                *done += n;
                progress(ConvertEvent::Progress { bytes_done: *done });
            },
        )?;
        tensor.finish()?;
    }
    Ok(())
}

fn write_experts(
    writer: &mut CheckpointWriter,
    set: &SourceSet,
    plan: &Plan,
    scratch: &mut Scratch,
    done: &mut u64,
    progress: &mut dyn FnMut(ConvertEvent<'_>),
) -> Result<(), FormatError> {
    for layer in &plan.layers {
        let spec = layer.spec;
        let label = format!("layer {} experts", spec.layer);
        progress(ConvertEvent::Item(&label));
        tracing::debug!(
            layer = spec.layer,
            experts = layer.experts.len(),
            "writing experts"
        );
        let parts: Vec<ExpertPartSpec> = Part::ALL
            .iter()
            .map(|&part| {
                let source = &layer.experts[0][part.index()];
                ExpertPartSpec {
                    name: part.name().into(),
                    rows: source.rows,
                    cols: source.cols,
                    format: layer.targets[part.index()],
                }
            })
            .collect();
        writer.begin_expert_layer(spec.layer, layer.experts.len() as u32, &parts)?;
        for (expert, sources) in layer.experts.iter().enumerate() {
            let mut blob = writer.begin_expert(spec.layer, expert as u32)?;
            for part in Part::ALL {
                let what = format!(
                    "expert {expert} of layer {}, part {}",
                    spec.layer,
                    part.name()
                );
                let mut sink = PartSink {
                    blob: &mut blob,
                    part: part.name(),
                };
                copy_matrix(
                    set,
                    &sources[part.index()],
                    layer.targets[part.index()],
                    plan::Transform::None,
                    &what,
                    &mut sink,
                    scratch,
                    &mut |n| {
                        *done += n;
                        progress(ConvertEvent::Progress { bytes_done: *done });
                    },
                )?;
            }
            blob.finish()?;
        }
    }
    Ok(())
}

/// Refuses an output that is the source or lies inside it (the converter never writes into
/// the source).
fn check_output_outside_source(src: &Path, out: &Path) -> Result<(), FormatError> {
    let src = std::fs::canonicalize(src).map_err(|e| FormatError::io(src, e))?;
    let absolute = std::path::absolute(out).map_err(|e| FormatError::io(out, e))?;
    // Resolve the deepest existing ancestor so symlinks and `..` are accounted for.
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut resolved = std::fs::canonicalize(existing).unwrap_or_else(|_| existing.to_path_buf());
    for name in rest.iter().rev() {
        resolved.push(name);
    }
    if resolved.starts_with(&src) || src.starts_with(&resolved) {
        return Err(FormatError::invalid(
            out,
            format!(
                "the output must lie outside the source directory {}",
                src.display()
            ),
        ));
    }
    Ok(())
}
