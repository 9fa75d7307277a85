//! `floe convert`.

/// Arguments of `floe convert`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `floe convert`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("floe convert is being written")
}
