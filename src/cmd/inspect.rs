//! `floe inspect`.

/// Arguments of `floe inspect`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `floe inspect`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("floe inspect is being written")
}
