//! `floe synth`: writes a random-weight checkpoint with a real model's shapes straight into floe's
//! format (no HF files), for streaming benchmarks at a realistic size.

use std::path::PathBuf;

use anyhow::Context;
use floe_model::synthetic::tokenizer::{
    byte_level_tokenizer, byte_level_tokenizer_config, byte_level_vocab_size,
};
use floe_quant::QuantFormat;
use floe_stream::size::format_size;
use floe_stream::synth::{estimate_bytes, write_checkpoint, Preset, SynthOptions, PRESETS};

/// Arguments of `floe synth`.
#[derive(clap::Args)]
pub struct Args {
    /// The model shape: qwen3-30b-a3b, qwen3-235b-a22b, qwen3.5-397b-a17b, qwen3.5-35b-a3b,
    /// small, tiny or qwen3.5-tiny.
    #[arg(long)]
    pub preset: String,
    /// Write only the first N decoder layers (a prefix slice of the model).
    #[arg(long)]
    pub layers: Option<u32>,
    /// Storage of the expert matrices: q4, q2, q8 (or any floe format name).
    #[arg(long, default_value = "q4")]
    pub quant: String,
    /// Storage of the dense matrices (attention, embeddings, LM head); default: --quant.
    #[arg(long)]
    pub dense_quant: Option<String>,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Do not write the byte-level tokenizer (tokenizer.json, tokenizer_config.json).
    #[arg(long)]
    pub no_tokenizer: bool,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// The checkpoint directory to create.
    pub out: PathBuf,
}

fn parse_format(flag: &str, name: &str) -> anyhow::Result<QuantFormat> {
    name.parse().with_context(|| format!("{flag} {name}"))
}

/// Runs `floe synth`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut preset = Preset::named(&args.preset).context("--preset")?;
    if let Some(layers) = args.layers {
        preset = preset.with_layers(layers)?;
    }
    let expert_format = parse_format("--quant", &args.quant)?;
    let dense_format = match &args.dense_quant {
        Some(name) => parse_format("--dense-quant", name)?,
        None => expert_format,
    };
    let mut options = SynthOptions::new(preset, expert_format);
    options.dense_format = dense_format;
    options.seed = args.seed;
    options.force = args.force;
    if !args.no_tokenizer {
        let vocab = byte_level_vocab_size();
        anyhow::ensure!(
            options.preset.vocab >= vocab,
            "preset '{}' has a vocabulary of {} ids, smaller than the byte-level tokenizer's {vocab}; pass --no-tokenizer",
            options.preset.name,
            options.preset.vocab
        );
        let json =
            |v: serde_json::Value| serde_json::to_vec_pretty(&v).expect("JSON values serialize");
        options
            .extra_files
            .push(("tokenizer.json".into(), json(byte_level_tokenizer())));
        options.extra_files.push((
            "tokenizer_config.json".into(),
            json(byte_level_tokenizer_config()),
        ));
        // The tokenizer's last id is <|im_end|>, the chat EOS; it has no BOS.
        options.eos_token_id = Some(vocab as u32 - 1);
    }
    let total = estimate_bytes(&options)?;
    let p = &options.preset;
    eprintln!(
        "writing {} ({} of {} layers, {} experts of {} each, {expert_format} experts, {dense_format} dense): {}",
        args.out.display(),
        p.layers,
        PRESETS.iter().find(|q| q.name == p.name).map_or(p.layers, |q| q.layers),
        p.experts,
        format_size(floe_stream::synth::expert_bytes(&options)?),
        format_size(total),
    );
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("a valid progress template"),
    );
    let out = write_checkpoint(&args.out, &options, &mut |done, _| bar.set_position(done))?;
    bar.finish_and_clear();
    eprintln!("wrote {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(out: PathBuf) -> Args {
        Args {
            preset: "tiny".into(),
            layers: Some(2),
            quant: "q4".into(),
            dense_quant: Some("q8".into()),
            seed: 3,
            no_tokenizer: false,
            force: false,
            out,
        }
    }

    #[test]
    fn writes_a_checkpoint_with_a_tokenizer_and_a_valid_config() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tiny");
        run(args(out.clone())).unwrap();
        let checkpoint = floe_format::Checkpoint::open(&out).unwrap();
        assert_eq!(checkpoint.config()["num_hidden_layers"], 2);
        assert_eq!(
            checkpoint.config()["eos_token_id"],
            byte_level_vocab_size() - 1
        );
        assert!(checkpoint.extra_file("tokenizer.json").is_some());
        let q_proj = checkpoint
            .dense("model.layers.0.self_attn.q_proj.weight")
            .unwrap();
        assert_eq!(q_proj.format, QuantFormat::Q8_0);
        let err = run(args(out)).unwrap_err();
        assert!(format!("{err:#}").contains("exists"), "{err:#}");
    }

    #[test]
    fn bad_arguments_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = args(dir.path().join("x"));
        bad.quant = "q3".into();
        assert!(format!("{:#}", run(bad).unwrap_err()).contains("--quant q3"));
        let mut bad = args(dir.path().join("x"));
        bad.layers = Some(5);
        assert!(format!("{:#}", run(bad).unwrap_err()).contains("has 4 layers"));
        let mut bad = args(dir.path().join("x"));
        bad.preset = "nope".into();
        assert!(format!("{:#}", run(bad).unwrap_err()).contains("unknown preset 'nope'"));
    }
}
