//! `cargo xtask …`: developer tasks.
//!
//! * `cargo xtask fixtures`: regenerates `fixtures/hf`, `fixtures/mlx-models` and
//!   `fixtures/mlx-quantize` with the Python scripts under `xtask/fixtures/`.
//! * `cargo xtask fixtures --check`: regenerates everything into a temporary directory and
//!   reports whether the committed fixtures (above all the reference logits) still match.

mod compare;
mod fixtures;
mod python;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command line of `cargo xtask`.
#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Developer tasks for floe"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The tasks.
#[derive(Subcommand)]
enum Command {
    /// Regenerate the test fixtures (HF checkpoints + reference logits, MLX models, MLX
    /// quantization vectors) with Python (torch, transformers, tokenizers, mlx, mlx-lm).
    Fixtures {
        /// Regenerate into a temporary directory and compare with the committed fixtures instead
        /// of overwriting them; exits non-zero when reference logits or tensors differ.
        #[arg(long)]
        check: bool,
        /// Python interpreter to use (default: $FLOE_PYTHON, else `python3`).
        #[arg(long, value_name = "PATH")]
        python: Option<PathBuf>,
        /// Skip the MLX fixtures (fixtures/mlx-models, fixtures/mlx-quantize).
        #[arg(long)]
        no_mlx: bool,
        /// Relative tolerance for reference logits in --check mode:
        /// |new - old| <= rtol * max(|new|, |old|, 1).
        #[arg(long, default_value_t = 1e-6, value_name = "RTOL")]
        rtol: f64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fixtures {
            check,
            python,
            no_mlx,
            rtol,
        } => fixtures::run(&fixtures::Options {
            check,
            python,
            mlx: !no_mlx,
            rtol,
        }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
