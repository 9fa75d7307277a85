//! `floe synth-trace`: writes a synthetic routing trace (JSON lines, one `{"layers": [[ids], …]}`
//! per token) with skewed popularity, per-prompt working sets and adjacent-token reuse.

use std::path::PathBuf;

use anyhow::Context;
use floe_format::Checkpoint;
use floe_stream::synth::Preset;
use floe_stream::trace::{write_trace_file, SyntheticTrace, TraceSpec};

/// Arguments of `floe synth-trace`.
#[derive(clap::Args)]
pub struct Args {
    /// Take layers, experts and top-k from this checkpoint.
    #[arg(long, conflicts_with = "preset")]
    pub checkpoint: Option<PathBuf>,
    /// Take layers, experts and top-k from this `floe synth` preset.
    #[arg(long)]
    pub preset: Option<String>,
    /// MoE layers (overrides the checkpoint / preset).
    #[arg(long)]
    pub layers: Option<u32>,
    /// Experts per layer (overrides the checkpoint / preset).
    #[arg(long)]
    pub experts: Option<u32>,
    /// Experts per token (overrides the checkpoint / preset).
    #[arg(long)]
    pub top_k: Option<u32>,
    /// Tokens to generate.
    #[arg(long, default_value_t = 2048)]
    pub tokens: u64,
    /// Tokens per prompt (each prompt draws a new working set).
    #[arg(long, default_value_t = 512)]
    pub prompt_len: u32,
    /// Zipf exponent of expert popularity (0 = uniform).
    #[arg(long, default_value_t = 0.6)]
    pub skew: f64,
    /// Fraction of a layer's experts a prompt uses (research: 0.55–0.75).
    #[arg(long, default_value_t = 0.65)]
    pub working_set: f64,
    /// Expected fraction of a token's experts shared with the previous token (research: ~0.3).
    #[arg(long, default_value_t = 0.3)]
    pub overlap: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The trace file to write.
    pub out: PathBuf,
}

/// Runs `floe synth-trace`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (mut layers, mut experts, mut top_k) = (None, None, None);
    if let Some(dir) = &args.checkpoint {
        let checkpoint =
            Checkpoint::open(dir).with_context(|| format!("opening {}", dir.display()))?;
        let moe = &checkpoint.manifest().expert_layers;
        anyhow::ensure!(
            !moe.is_empty(),
            "{}: the checkpoint has no MoE layers",
            dir.display()
        );
        layers = Some(moe.len() as u32);
        experts = moe.iter().map(|l| l.blobs.len() as u32).max();
        top_k = floe_stream::catalog::experts_per_token(checkpoint.text_config());
    } else if let Some(name) = &args.preset {
        let preset = Preset::named(name).context("--preset")?;
        (layers, experts, top_k) = (
            Some(preset.layers),
            Some(preset.experts),
            Some(preset.top_k),
        );
    }
    let need = |value: Option<u32>, flag: &str| {
        value.with_context(|| format!("{flag} is required (or give --checkpoint or --preset)"))
    };
    let mut spec = TraceSpec::new(
        need(args.layers.or(layers), "--layers")?,
        need(args.experts.or(experts), "--experts")?,
        need(args.top_k.or(top_k), "--top-k")?,
    );
    spec.prompt_len = args.prompt_len;
    spec.skew = args.skew;
    spec.working_set = args.working_set;
    spec.adjacent_overlap = args.overlap;
    spec.seed = args.seed;
    let trace = SyntheticTrace::new(spec.clone())?;
    let count = write_trace_file(&args.out, trace.take(args.tokens as usize))?;
    eprintln!(
        "wrote {count} tokens to {} ({} layers × {} experts, top-{}, working set {} experts per prompt, overlap {}, skew {})",
        args.out.display(),
        spec.layers,
        spec.experts,
        spec.top_k,
        spec.working_set_size(),
        spec.adjacent_overlap,
        spec.skew
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_stream::trace::TraceReader;

    fn args(out: PathBuf) -> Args {
        Args {
            checkpoint: None,
            preset: Some("qwen3-30b-a3b".into()),
            layers: Some(3),
            experts: None,
            top_k: None,
            tokens: 20,
            prompt_len: 512,
            skew: 0.6,
            working_set: 0.65,
            overlap: 0.3,
            seed: 0,
            out,
        }
    }

    #[test]
    fn writes_one_line_per_token_in_the_presets_shape() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("trace.jsonl");
        run(args(out.clone())).unwrap();
        let tokens: Vec<_> = TraceReader::open(&out)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(tokens.len(), 20);
        for token in &tokens {
            assert_eq!(token.layers.len(), 3);
            token.check(&[128; 3]).unwrap();
            assert!(token.layers.iter().all(|l| l.len() == 8));
        }
    }

    #[test]
    fn missing_shape_and_bad_parameters_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = args(dir.path().join("t"));
        bad.preset = None;
        assert!(format!("{:#}", run(bad).unwrap_err()).contains("--experts is required"));
        let mut bad = args(dir.path().join("t"));
        bad.overlap = 1.5;
        assert!(format!("{:#}", run(bad).unwrap_err()).contains("adjacent overlap"));
    }
}
