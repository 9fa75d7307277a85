//! `--backend cpu|wgpu|auto` (with `--adapter` and `--allow-software`): which compute backend
//! `floe run`, `floe logits` and `floe demo` use, and starting it.
//!
//! * `cpu`: the CPU backend.
//! * `wgpu`: the wgpu backend on the adapter `--adapter` names (a name fragment or an index of
//!   the adapter list), else the best hardware GPU; a software adapter (lavapipe) only with
//!   `--allow-software` or when `--adapter` names it. No adapter: an error listing what was found.
//! * `auto`: a discrete or integrated GPU through wgpu if one exists, else the CPU backend (never a
//!   software adapter unless asked for as with `wgpu`).

use std::sync::Arc;

use anyhow::{bail, Context};
use floe_compute::cpu::CpuBackend;
use floe_compute::Backend;

/// Backends this build of floe has (`auto` picks among them).
#[cfg(feature = "wgpu")]
pub const BACKENDS: &[&str] = &["cpu", "wgpu", "auto"];
/// Backends this build of floe has (`auto` picks among them).
#[cfg(not(feature = "wgpu"))]
pub const BACKENDS: &[&str] = &["cpu", "auto"];

/// Backend options.
#[derive(clap::Args, Clone, Debug)]
pub struct BackendArgs {
    /// Compute backend: cpu, wgpu, or auto (a hardware GPU through wgpu if there is one, else cpu).
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Compute threads of the CPU backend (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// The wgpu adapter: a position in the adapter list or (part of) its name, e.g. `llvmpipe`.
    #[arg(long, value_name = "NAME|INDEX")]
    pub adapter: Option<String>,
    /// Let wgpu fall back to a software adapter (lavapipe) when there is no hardware GPU.
    #[arg(long)]
    pub allow_software: bool,
    /// VRAM budget in MiB for keeping routed experts resident on the GPU (wgpu backend), so an
    /// expert used again is not uploaded again; 0 (default) is off.
    #[arg(long, value_name = "MIB", default_value_t = 0)]
    pub gpu_expert_cache: u64,
    /// Time every GPU kernel with timestamp queries and print the GPU time per kernel to stderr
    /// at the end (wgpu backend). Each dispatch then gets a compute pass of its own and every
    /// submit waits, so the run itself is slower.
    #[arg(long)]
    pub gpu_profile: bool,
    /// Submit recorded GPU work after this many dispatches (wgpu backend; default 64, and 16
    /// while experts stream from the checkpoint), so the GPU starts on a token's first kernels
    /// while the CPU records (and fetches) the rest.
    #[arg(long, value_name = "DISPATCHES", value_parser = clap::value_parser!(u64).range(1..))]
    pub gpu_submit_after: Option<u64>,
    /// Keep activations in f32 for the GPU's products over 4-bit affine and Q8_0 weights, so
    /// results match the CPU backend's (wgpu backend). By default they are quantized to int8
    /// per 32 values and multiplied by integer dot products, as llama.cpp's GPU backends do:
    /// about twice as fast for q4, each x value off by at most 1/254 of its block's largest
    /// magnitude.
    #[arg(long, conflicts_with = "gpu_int8_activations")]
    pub gpu_f32_activations: bool,
    /// Quantize activations to int8 for the GPU's q4 and Q8_0 products: the default (the flag
    /// is kept so that earlier commands still run). wgpu backend.
    #[arg(long)]
    pub gpu_int8_activations: bool,
}

/// Work that runs on whichever backend was chosen.
pub trait BackendJob {
    /// What the work returns.
    type Output;
    /// Runs the work on `backend`.
    fn run<B: Backend + 'static>(self, backend: Arc<B>) -> anyhow::Result<Self::Output>;
}

/// Starts the backend `args` names and runs `job` on it.
pub fn with_backend<J: BackendJob>(args: &BackendArgs, job: J) -> anyhow::Result<J::Output> {
    match args.backend.as_str() {
        "cpu" => {
            reject_gpu_flags(args, "cpu")?;
            job.run(cpu(args)?)
        }
        "wgpu" => wgpu_backend::run_on_wgpu(args, job),
        "auto" => wgpu_backend::run_auto(args, job),
        other => bail!(
            "--backend '{other}' is not built into this floe (available: {})",
            BACKENDS.join(", ")
        ),
    }
}

fn cpu(args: &BackendArgs) -> anyhow::Result<Arc<CpuBackend>> {
    Ok(Arc::new(
        CpuBackend::new(args.threads).context("starting the CPU backend")?,
    ))
}

/// `--adapter` and `--allow-software` choose a GPU: given with a backend that has none, they are
/// an error rather than silently ignored.
fn reject_gpu_flags(args: &BackendArgs, backend: &str) -> anyhow::Result<()> {
    if args.adapter.is_some()
        || args.allow_software
        || args.gpu_expert_cache > 0
        || args.gpu_profile
        || args.gpu_submit_after.is_some()
        || args.gpu_int8_activations
        || args.gpu_f32_activations
    {
        bail!(
            "--adapter, --allow-software, --gpu-expert-cache, --gpu-profile, --gpu-submit-after, --gpu-f32-activations and --gpu-int8-activations configure the wgpu backend; they do not apply to --backend {backend} (use --backend wgpu or auto)"
        );
    }
    Ok(())
}

#[cfg(feature = "wgpu")]
mod wgpu_backend {
    use std::sync::Arc;

    use anyhow::Context;
    use floe_wgpu::{AdapterChoice, WgpuBackend, WgpuOptions};

    use super::{cpu, BackendArgs, BackendJob};

    /// The options `--adapter` and `--allow-software` ask for.
    fn options(args: &BackendArgs) -> WgpuOptions {
        let adapter = match args.adapter.as_deref().map(str::trim) {
            None => AdapterChoice::Auto,
            Some(text) => match text.parse::<usize>() {
                Ok(index) => AdapterChoice::Index(index),
                Err(_) => AdapterChoice::Name(text.to_string()),
            },
        };
        let defaults = WgpuOptions::default();
        WgpuOptions {
            adapter,
            allow_software: args.allow_software,
            expert_cache_bytes: args.gpu_expert_cache.saturating_mul(1 << 20),
            profile_kernels: args.gpu_profile,
            int8_activations: !args.gpu_f32_activations,
            max_pending_dispatches: args
                .gpu_submit_after
                .map_or(defaults.max_pending_dispatches, |n| n as usize),
            streamed_pending_dispatches: args
                .gpu_submit_after
                .map_or(defaults.streamed_pending_dispatches, |n| n as usize),
            ..defaults
        }
    }

    pub(super) fn run_on_wgpu<J: BackendJob>(
        args: &BackendArgs,
        job: J,
    ) -> anyhow::Result<J::Output> {
        let backend = WgpuBackend::new(options(args)).context(
            "--backend wgpu: cannot start the wgpu backend (--adapter NAME|INDEX picks an adapter; --allow-software permits lavapipe)",
        )?;
        let backend = Arc::new(backend);
        let output = job.run(backend.clone())?;
        if let Some(profile) = backend
            .kernel_profile()
            .context("reading the kernel profile")?
        {
            print_profile(&profile);
        }
        Ok(output)
    }

    /// The `--gpu-profile` table, on stderr.
    fn print_profile(profile: &[floe_wgpu::KernelTime]) {
        let total: f64 = profile.iter().map(|k| k.gpu_seconds).sum();
        eprintln!("gpu profile: {:.1} ms of kernel time", total * 1e3);
        eprintln!(
            "  {:<26} {:>10} {:>12} {:>10} {:>7}",
            "kernel", "dispatches", "total ms", "mean us", "share"
        );
        for k in profile {
            eprintln!(
                "  {:<26} {:>10} {:>12.2} {:>10.2} {:>6.1}%",
                k.kernel,
                k.dispatches,
                k.gpu_seconds * 1e3,
                k.gpu_seconds * 1e6 / k.dispatches.max(1) as f64,
                100.0 * k.gpu_seconds / total.max(1e-12)
            );
        }
    }

    pub(super) fn run_auto<J: BackendJob>(args: &BackendArgs, job: J) -> anyhow::Result<J::Output> {
        let explicit = args.adapter.is_some() || args.allow_software;
        if explicit || WgpuBackend::list_adapters().iter().any(is_gpu) {
            return run_on_wgpu(args, job);
        }
        tracing::info!(
            "--backend auto: no discrete or integrated GPU found; using the CPU backend"
        );
        for (given, flag) in [
            (args.gpu_expert_cache > 0, "--gpu-expert-cache"),
            (args.gpu_profile, "--gpu-profile"),
        ] {
            if given {
                eprintln!(
                    "notice: {flag} is ignored: --backend auto found no hardware GPU and uses the CPU backend"
                );
            }
        }
        job.run(cpu(args)?)
    }

    /// A discrete or integrated hardware GPU (what `auto` takes over the CPU backend).
    fn is_gpu(adapter: &floe_wgpu::AdapterSummary) -> bool {
        !adapter.software
            && (adapter.device_type == "DiscreteGpu" || adapter.device_type == "IntegratedGpu")
    }
}

#[cfg(not(feature = "wgpu"))]
mod wgpu_backend {
    use anyhow::bail;

    use super::{cpu, reject_gpu_flags, BackendArgs, BackendJob};

    pub(super) fn run_on_wgpu<J: BackendJob>(
        _args: &BackendArgs,
        _job: J,
    ) -> anyhow::Result<J::Output> {
        bail!(
            "--backend wgpu is not built into this floe (built without the `wgpu` cargo feature; available: {})",
            super::BACKENDS.join(", ")
        )
    }

    pub(super) fn run_auto<J: BackendJob>(args: &BackendArgs, job: J) -> anyhow::Result<J::Output> {
        reject_gpu_flags(args, "auto in a build without the `wgpu` feature")?;
        job.run(cpu(args)?)
    }
}
