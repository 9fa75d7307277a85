//! Writes a prefix slice of the Qwen3.5-397B-A17B synthetic preset with its real dense shapes
//! but only `--experts` routed experts a layer, so the per-layer cost of the dense part
//! (GatedDeltaNet vs full-attention mixers, shared expert, router) can be measured on a disk too
//! small for 512 experts × 7 MB a layer. The expert I/O is measured separately on a full
//! 512-expert slice (`floe synth --preset qwen3.5-397b-a17b --layers 1`); see
//! `docs/performance.md`, "Qwen3.5-397B-A17B projected from a slice":
//!
//! ```text
//! cargo run --release --example qwen35_projection -- --out /tmp/q397-l4-e16 --layers 4 --experts 16
//! target/release/floe bench /tmp/q397-l4-e16 --experts-per-token 10 --cache-policy none
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use floe_quant::QuantFormat;
use floe_stream::synth::{estimate_bytes, write_checkpoint, Preset, SynthOptions};

/// Write a Qwen3.5-397B-A17B slice with fewer routed experts per layer.
#[derive(Parser)]
struct Args {
    /// Output directory (must not exist unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Decoder layers of the prefix slice (layer 3 is the first full-attention layer).
    #[arg(long, default_value_t = 4)]
    layers: u32,
    /// Routed experts per layer (at least the top-k of the run, 10 for the model's default).
    #[arg(long, default_value_t = 16)]
    experts: u32,
    /// Storage of the expert matrices.
    #[arg(long, default_value = "q4")]
    quant: String,
    /// Storage of the dense matrices.
    #[arg(long, default_value = "q4")]
    dense_quant: String,
    /// Replace --out if it exists.
    #[arg(long)]
    force: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut preset = Preset::named("qwen3.5-397b-a17b")?.with_layers(args.layers)?;
    anyhow::ensure!(
        args.experts >= preset.top_k && args.experts <= preset.experts,
        "--experts {}: give {} to {} (the model's top-k to its expert count)",
        args.experts,
        preset.top_k,
        preset.experts
    );
    preset.experts = args.experts;
    let expert_format: QuantFormat = args
        .quant
        .parse()
        .with_context(|| format!("--quant {}", args.quant))?;
    let dense_format: QuantFormat = args
        .dense_quant
        .parse()
        .with_context(|| format!("--dense-quant {}", args.dense_quant))?;
    let mut options = SynthOptions::new(preset, expert_format);
    options.dense_format = dense_format;
    options.force = args.force;
    eprintln!(
        "writing {} ({} bytes)",
        args.out.display(),
        estimate_bytes(&options)?
    );
    let out = write_checkpoint(&args.out, &options, &mut |_, _| {})?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
