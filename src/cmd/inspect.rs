//! `floe inspect`: what a floe checkpoint holds, and what a token costs to stream.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use floe_format::layout::blob_stride;
use floe_format::manifest::ExpertLayer;
use floe_format::{Checkpoint, ExpertSource, OpenOptions, PreadExpertSource};
use serde_json::{json, Value};

/// Arguments of `floe inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The floe checkpoint directory.
    pub model: PathBuf,
    /// Print one JSON object (with every expert blob's file, offset and length) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also read every dense tensor and expert blob and verify its checksum.
    #[arg(long)]
    pub verify: bool,
}

/// Runs `floe inspect`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let checkpoint = Arc::new(
        Checkpoint::open_with(
            &args.model,
            OpenOptions {
                verify_checksums: true,
            },
        )
        .with_context(|| format!("opening {}", args.model.display()))?,
    );
    if args.verify {
        verify_all(&checkpoint)?;
    }
    let summary = Summary::of(&checkpoint);
    let text = if args.json {
        serde_json::to_string_pretty(&summary.to_json(&checkpoint))? + "\n"
    } else {
        summary.text(&checkpoint, args.verify)
    };
    // A closed pipe (`floe inspect … | head`) is not an error.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// Reads every dense tensor and blob through the checksum-verifying paths.
fn verify_all(checkpoint: &Arc<Checkpoint>) -> anyhow::Result<()> {
    for tensor in &checkpoint.manifest().dense {
        checkpoint.dense(&tensor.name)?;
    }
    let source = PreadExpertSource::new(checkpoint.clone());
    for layer in &checkpoint.manifest().expert_layers {
        let experts: Vec<u32> = (0..layer.blobs.len() as u32).collect();
        source.fetch(layer.layer, &experts, &mut |_, _| Ok(()))?;
    }
    Ok(())
}

/// The numbers `inspect` reports.
struct Summary {
    layers: Option<u64>,
    experts_per_token: Option<u64>,
    dense_bytes: u64,
    dense_formats: BTreeMap<String, usize>,
    expert_bytes: u64,
    bytes_per_token: Option<u64>,
}

impl Summary {
    fn of(checkpoint: &Checkpoint) -> Self {
        let manifest = checkpoint.manifest();
        let text = checkpoint.text_config();
        let experts_per_token = text.get("num_experts_per_tok").and_then(Value::as_u64);
        let mut dense_formats = BTreeMap::new();
        for tensor in &manifest.dense {
            *dense_formats.entry(tensor.format.name()).or_insert(0) += 1;
        }
        let blob_sum: u64 = manifest.expert_layers.iter().map(|l| l.blob_length).sum();
        Summary {
            layers: text.get("num_hidden_layers").and_then(Value::as_u64),
            experts_per_token,
            dense_bytes: manifest.dense.iter().map(|t| t.length).sum(),
            dense_formats,
            expert_bytes: manifest
                .expert_layers
                .iter()
                .map(|l| l.blob_length * l.blobs.len() as u64)
                .sum(),
            // K blobs of every MoE layer: K × MoE layers × blob_length when all layers agree.
            bytes_per_token: experts_per_token.map(|k| k * blob_sum),
        }
    }

    fn to_json(&self, checkpoint: &Checkpoint) -> Value {
        let manifest = checkpoint.manifest();
        let layers: Vec<Value> = manifest
            .expert_layers
            .iter()
            .map(|l| {
                json!({
                    "layer": l.layer,
                    "file": l.file,
                    "experts": l.blobs.len(),
                    "blob_length": l.blob_length,
                    "stride": blob_stride(l.blob_length),
                    "parts": l.parts.iter().map(|p| json!({
                        "name": p.name, "rows": p.rows, "cols": p.cols,
                        "format": p.format.name(), "offset": p.offset, "length": p.length,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let experts: Vec<Value> = manifest
            .expert_layers
            .iter()
            .flat_map(|l| {
                l.blobs.iter().enumerate().map(move |(e, b)| {
                    json!({"layer": l.layer, "expert": e, "file": l.file, "offset": b.offset, "length": l.blob_length})
                })
            })
            .collect();
        let dense: Vec<Value> = manifest
            .dense
            .iter()
            .map(|t| json!({"name": t.name, "shape": t.shape, "format": t.format.name(), "file": t.file, "offset": t.offset, "length": t.length}))
            .collect();
        json!({
            "dir": checkpoint.dir(),
            "arch": checkpoint.arch(),
            "checkpoint_id": manifest.checkpoint_id,
            "format_version": manifest.format_version,
            "num_layers": self.layers,
            "moe_layers": manifest.expert_layers.iter().map(|l| l.layer).collect::<Vec<_>>(),
            "num_experts_per_tok": self.experts_per_token,
            "dense_bytes": self.dense_bytes,
            "dense_formats": self.dense_formats,
            "expert_bytes": self.expert_bytes,
            "bytes_per_token": self.bytes_per_token,
            "data_files": manifest.data_files,
            "extra_files": manifest.extra_files.iter().map(|f| &f.name).collect::<Vec<_>>(),
            "dense": dense,
            "expert_layers": layers,
            "experts": experts,
            "provenance": manifest.provenance,
        })
    }

    fn text(&self, checkpoint: &Checkpoint, verified: bool) -> String {
        let mut out = String::new();
        macro_rules! line {
            ($($arg:tt)*) => { writeln!(out, $($arg)*).expect("writing to a String") };
        }
        let manifest = checkpoint.manifest();
        let layers = &manifest.expert_layers;
        line!("checkpoint   {}", checkpoint.dir().display());
        line!("arch         {}", checkpoint.arch());
        let k = self
            .experts_per_token
            .map_or("unknown".to_string(), |k| k.to_string());
        let decoder = self.layers.map_or("?".to_string(), |n| n.to_string());
        line!("layers       {decoder} decoder layers, {} with routed experts, K = {k} experts per token", layers.len());
        for line in describe_layers(layers) {
            line!("experts      {line}");
        }
        let formats: Vec<String> = self
            .dense_formats
            .iter()
            .map(|(f, n)| format!("{n} {f}"))
            .collect();
        line!(
            "dense        {} tensors, {} ({})",
            manifest.dense.len(),
            human(self.dense_bytes),
            formats.join(", ")
        );
        let blobs: usize = layers.iter().map(|l| l.blobs.len()).sum();
        line!("expert data  {blobs} blobs, {}", human(self.expert_bytes));
        match self.bytes_per_token {
            Some(bytes) => line!(
                "per token    {} of expert blobs at K = {k} (K × blob length, summed over the {} MoE layers)",
                human(bytes),
                layers.len()
            ),
            None => line!("per token    unknown (the config has no num_experts_per_tok)"),
        }
        let extra: Vec<&str> = manifest
            .extra_files
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        line!("extra files  {}", extra.join(", "));
        if verified {
            line!("checksums    every dense tensor and expert blob verified");
        }
        out
    }
}

/// One line per run of MoE layers with the same layout.
fn describe_layers(layers: &[ExpertLayer]) -> Vec<String> {
    let describe = |l: &ExpertLayer| {
        let parts: Vec<String> = l
            .parts
            .iter()
            .map(|p| format!("{} [{}, {}] {}", p.name, p.rows, p.cols, p.format))
            .collect();
        format!(
            "{} per layer, blob {} ({})",
            l.blobs.len(),
            human(l.blob_length),
            parts.join(", ")
        )
    };
    let mut lines: Vec<(Vec<u32>, String)> = Vec::new();
    for layer in layers {
        let text = describe(layer);
        match lines.last_mut() {
            Some((ids, last)) if *last == text => ids.push(layer.layer),
            _ => lines.push((vec![layer.layer], text)),
        }
    }
    lines
        .into_iter()
        .map(|(ids, text)| {
            let contiguous = ids.windows(2).all(|w| w[1] == w[0] + 1);
            let range = match ids.as_slice() {
                [one] => format!("layer {one}"),
                [first, .., last] if contiguous => format!("layers {first}..={last}"),
                _ => format!(
                    "layers {}",
                    ids.iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            format!("{range}: {text}")
        })
        .collect()
}

/// Bytes in binary units.
fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {} ({bytes} B)", units[unit])
    }
}
