//! `floe logits`: the logits of every position of a token sequence, as JSON on stdout, computed
//! by the same prefill `floe run` uses.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use floe_compute::Backend;
use floe_model::LogitsWanted;

use super::run::{load_args, with_backend, BackendArgs, BackendJob, LoadArgs};

/// Arguments of `floe logits`.
#[derive(clap::Args)]
pub struct Args {
    /// The floe checkpoint directory.
    pub model: PathBuf,
    /// Token ids, comma-separated (e.g. `1,2,3`).
    #[arg(long)]
    pub tokens: String,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Parses `1,2,3` (spaces allowed) into token ids; the error names the bad entry.
pub fn parse_tokens(text: &str) -> anyhow::Result<Vec<u32>> {
    if text.trim().is_empty() {
        bail!("--tokens is empty: give comma-separated token ids, e.g. --tokens 1,2,3");
    }
    text.split(',')
        .enumerate()
        .map(|(i, t)| {
            let t = t.trim();
            t.parse::<u32>().with_context(|| {
                format!(
                    "--tokens: entry {} ('{t}') is not a token id (a non-negative integer)",
                    i + 1
                )
            })
        })
        .collect()
}

/// Runs `floe logits`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let tokens = parse_tokens(&args.tokens)?;
    with_backend(&args.backend.clone(), LogitsJob { args, tokens })
}

struct LogitsJob {
    args: Args,
    tokens: Vec<u32>,
}

impl BackendJob for LogitsJob {
    type Output = ();

    fn run<B: Backend + 'static>(self, backend: Arc<B>) -> anyhow::Result<()> {
        let loaded = load_args(&self.args.model, backend, &self.args.load)?;
        let info = loaded.model.info();
        if self.tokens.len() > info.max_context {
            bail!(
                "--tokens has {} tokens, more than the model's context limit ({})",
                self.tokens.len(),
                info.max_context
            );
        }
        let mut state = loaded.model.new_state(self.tokens.len())?;
        let logits = loaded
            .model
            .forward(&self.tokens, &mut state, LogitsWanted::All)?;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        write!(out, "{{\"logits\":[")?;
        for (i, row) in logits.iter_rows().enumerate() {
            if i > 0 {
                write!(out, ",")?;
            }
            serde_json::to_writer(&mut out, row)?;
        }
        writeln!(out, "]}}")?;
        out.flush().context("writing the logits to stdout")?;
        Ok(())
    }
}
