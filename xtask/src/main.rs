//! `cargo xtask …`: developer tasks.
//!
//! * `cargo xtask fixtures`: regenerates `fixtures/hf`, `fixtures/mlx-models` and
//!   `fixtures/mlx-quantize` with the Python scripts under `xtask/fixtures/`.
//! * `cargo xtask fixtures --check`: regenerates everything into a temporary directory and
//!   reports whether the committed fixtures (above all the reference logits) still match.
//! * `cargo xtask stream-bench`: the expert-streaming decode benchmark (see `stream_bench`).

mod compare;
mod fixtures;
mod python;
mod stream_bench;

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
    /// Decode benchmark of expert streaming on the qwen3-30b-a3b q4 preset inside an 8 GiB
    /// cgroup, against fio's disk ceiling and memory bandwidth (needs root and fio).
    StreamBench {
        /// Directory for the synthetic checkpoint and traces.
        #[arg(long, default_value = "target/stream-bench")]
        dir: PathBuf,
        /// Decode tokens per configuration.
        #[arg(long, default_value_t = 16)]
        tokens: usize,
        /// Prompt tokens per configuration.
        #[arg(long, default_value_t = 4)]
        prompt_tokens: usize,
        /// Expert cache budget of every run.
        #[arg(long, default_value = "4GiB")]
        cache_budget: String,
        /// cgroup memory limit.
        #[arg(long, default_value = "8G")]
        memory_limit: String,
        /// pread threads, io_uring queue depth, and fio's queue depth.
        #[arg(long, default_value_t = 8)]
        queue_depth: usize,
        /// Seconds of fio.
        #[arg(long, default_value_t = 10)]
        fio_seconds: u32,
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
        Command::StreamBench {
            dir,
            tokens,
            prompt_tokens,
            cache_budget,
            memory_limit,
            queue_depth,
            fio_seconds,
        } => stream_bench::run(&stream_bench::Options {
            dir,
            tokens,
            prompt_tokens,
            cache_budget,
            memory_limit,
            queue_depth,
            fio_seconds,
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
