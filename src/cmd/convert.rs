//! `floe convert`: an HF safetensors or MLX checkpoint into floe's streamable format.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use floe_format::convert::{convert, ConvertEvent, ConvertOptions, SUPPORTED_ARCHS};
use floe_quant::QuantFormat;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Arguments of `floe convert`.
#[derive(clap::Args)]
#[command(after_help = format!("Supported architectures (model_type): {}.", SUPPORTED_ARCHS.join(", ")))]
pub struct Args {
    /// The source checkpoint directory (config.json and safetensors; HF or MLX).
    pub source: PathBuf,
    /// The floe checkpoint directory to create (written as <OUT_DIR>.partial, then renamed).
    #[arg(value_name = "OUT_DIR")]
    pub out_dir: PathBuf,
    /// Storage format of the routed experts: f32, f16, bf16, q8 (= q8_0), q4, q2 [default: the
    /// source's format].
    #[arg(long, value_name = "FORMAT")]
    pub quant: Option<QuantFormat>,
    /// Storage format of dense 2-D projection weights and the embedding table (norms, routers,
    /// gates and other small tensors always stay float) [default: the source's format].
    #[arg(long, value_name = "FORMAT")]
    pub dense_quant: Option<QuantFormat>,
    /// Replace OUT_DIR if it exists (only once the new checkpoint is complete).
    #[arg(long)]
    pub force: bool,
}

/// Runs `floe convert`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let options = ConvertOptions {
        expert_format: args.quant,
        dense_format: args.dense_quant,
        force: args.force,
    };
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut skipped = 0usize;
    let report = convert(
        &args.source,
        &args.out_dir,
        &options,
        &mut |event| match event {
            ConvertEvent::Planned {
                arch,
                source_bytes,
                dense_tensors,
                expert_layers,
                experts,
            } => {
                bar.println(format!(
                "converting {} ({arch}): {dense_tensors} dense tensors, {expert_layers} MoE layers, {experts} experts",
                args.source.display()
            ));
                bar.set_length(source_bytes);
            }
            ConvertEvent::Skipped { .. } => skipped += 1,
            ConvertEvent::Note(note) => bar.println(format!("note: {note}")),
            ConvertEvent::Item(item) => bar.set_message(item.to_string()),
            ConvertEvent::Progress { bytes_done } => bar.set_position(bytes_done),
        },
    );
    bar.finish_and_clear();
    let report = report.with_context(|| format!("converting {}", args.source.display()))?;
    if skipped > 0 {
        let mut reasons: Vec<&str> = report.skipped.iter().map(|(_, r)| r.as_str()).collect();
        reasons.dedup();
        eprintln!("skipped {skipped} source tensors: {}", reasons.join("; "));
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "wrote {} ({}): {} dense tensors, {} MoE layers, {} experts; read {:.2} GB in {seconds:.1} s ({:.2} GB/s)",
        report.out_dir.display(),
        report.arch,
        report.dense_tensors,
        report.expert_layers,
        report.experts,
        report.source_bytes as f64 / 1e9,
        report.source_bytes as f64 / 1e9 / seconds.max(1e-9),
    );
    Ok(())
}
