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
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
