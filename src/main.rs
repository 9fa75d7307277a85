//! The `floe` command-line tool.

mod cmd;

use clap::{Parser, Subcommand};

/// Run Mixture-of-Experts language models larger than memory by streaming routed experts from SSD.
#[derive(Parser)]
#[command(name = "floe", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert an HF safetensors or MLX checkpoint into floe's streamable format.
    Convert(cmd::convert::Args),
    /// Describe a floe checkpoint: architecture, sizes, formats, expert blobs.
    Inspect(cmd::inspect::Args),
    /// Generate text from a prompt, streamed as it is produced.
    Run(cmd::run::Args),
    /// Print the logits of every position of a token sequence as JSON.
    Logits(cmd::logits::Args),
    /// Build a synthetic random-weight MoE model (once) and generate from it with statistics.
    Demo(cmd::demo::Args),
    /// Write a random-weight checkpoint with a real model's shapes (streaming benchmarks).
    Synth(cmd::synth::Args),
    /// Write a synthetic expert-routing trace (JSON lines) with skew and adjacent-token reuse.
    SynthTrace(cmd::synth_trace::Args),
    /// Measure prefill and decode throughput and expert-streaming statistics (random prompt).
    Bench(cmd::bench::Args),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("FLOE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Convert(args) => cmd::convert::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Logits(args) => cmd::logits::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Synth(args) => cmd::synth::run(args),
        Command::SynthTrace(args) => cmd::synth_trace::run(args),
        Command::Bench(args) => cmd::bench::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
