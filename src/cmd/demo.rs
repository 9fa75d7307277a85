//! `floe demo`: builds (once) a synthetic Qwen3-MoE checkpoint with random weights, larger than
//! a default expert cache, and generates from it with statistics: the whole streaming path on a
//! fresh machine without downloading a model.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use floe_compute::Backend;
use floe_format::Checkpoint;
use floe_model::synthetic::{provenance, write_synthetic_qwen3_moe, SyntheticSpec};

use super::run::{
    load_with_source, with_backend, BackendArgs, BackendJob, GenerationRequest, SamplingArgs,
};
use super::stream::StreamArgs;

/// Environment variable naming where the demo checkpoint is kept.
pub const DEMO_DIR_ENV: &str = "FLOE_DEMO_DIR";

/// Arguments of `floe demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Where to keep the demo checkpoint (default: $FLOE_DEMO_DIR, else `floe-demo/` in the cargo
    /// target directory next to this binary).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The prompt.
    #[arg(
        short,
        long,
        default_value = "The experts of this model are streamed from disk"
    )]
    pub prompt: String,
    /// Tokens to generate.
    #[arg(short = 'n', long = "max-tokens", default_value_t = 48)]
    pub max_tokens: usize,
    /// Rebuild the checkpoint even if a current one exists.
    #[arg(long)]
    pub rebuild: bool,
    /// RAM for the expert cache (default: a quarter of the demo model's expert bytes, so most
    /// experts must be streamed from disk).
    #[arg(long, value_name = "SIZE")]
    pub cache_budget: Option<String>,
    /// Load every routed expert into backend memory at start instead of streaming them (selection
    /// stays on the device; see `floe run --resident-experts`).
    #[arg(long, conflicts_with = "cache_budget")]
    pub resident_experts: bool,
    /// Model size (`full` has more experts than fit a small cache).
    #[arg(long, value_enum, default_value_t = DemoSize::Full)]
    pub size: DemoSize,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// The demo model sizes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoSize {
    /// 8 layers of 48 q4 experts, hidden size 1024 (≈ 340 MB of experts).
    Full,
    /// 2 layers of 8 q4 experts, hidden size 64 (a quick check).
    Tiny,
}

impl DemoSize {
    fn spec(self) -> SyntheticSpec {
        match self {
            DemoSize::Full => SyntheticSpec::demo(),
            DemoSize::Tiny => SyntheticSpec {
                expert_format: floe_quant::QuantFormat::Q4,
                max_position_embeddings: 4096,
                ..SyntheticSpec::tiny()
            },
        }
    }

    fn name(self) -> &'static str {
        match self {
            DemoSize::Full => "full",
            DemoSize::Tiny => "tiny",
        }
    }
}

/// The default home of the demo checkpoint: `$FLOE_DEMO_DIR`, else `<target>/floe-demo` where
/// `<target>` is the directory above the one holding this executable (cargo's
/// `target/<profile>/floe`), else the system temporary directory.
fn default_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(DEMO_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.parent()?
                .parent()
                .map(|target| target.join("floe-demo"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("floe-demo"))
}

/// Whether `dir` holds a checkpoint built from `spec` by this version.
fn is_current(dir: &std::path::Path, spec: &SyntheticSpec) -> bool {
    Checkpoint::open(dir).is_ok_and(|c| c.manifest().provenance == provenance(spec))
}

/// Runs `floe demo`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = args.size.spec();
    let root = args.dir.clone().unwrap_or_else(default_root);
    let dir = root.join(format!("qwen3-moe-synthetic-{}", args.size.name()));
    if args.rebuild || !is_current(&dir, &spec) {
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let experts_mb = (spec.expert_bytes()? * spec.experts * spec.layers) as f64 / 1e6;
        eprintln!(
            "building a synthetic Qwen3-MoE checkpoint ({} layers × {} experts, {experts_mb:.0} MB of {} experts) in {} …",
            spec.layers,
            spec.experts,
            spec.expert_format,
            dir.display()
        );
        let started = Instant::now();
        write_synthetic_qwen3_moe(&dir, &spec, true)
            .with_context(|| format!("building the demo checkpoint in {}", dir.display()))?;
        eprintln!("built in {:.1} s", started.elapsed().as_secs_f64());
    } else {
        eprintln!("using the demo checkpoint in {}", dir.display());
    }
    eprintln!("note: the weights are random, so the text is gibberish; what runs is the real path (mmap'd dense weights, experts read from disk per token).");
    let params = args.sampling.params()?;
    let expert_bytes = spec.expert_bytes()? * spec.experts * spec.layers;
    let minimum = spec.expert_bytes()? * spec.top_k;
    let cache_budget = match &args.cache_budget {
        Some(size) => size.clone(),
        None if args.resident_experts => {
            eprintln!(
                "experts: all {:.0} MB resident in backend memory (--resident-experts), none read per token",
                expert_bytes as f64 / 1e6
            );
            minimum.to_string()
        }
        None => {
            let budget = (expert_bytes / 4).max(minimum);
            eprintln!(
                "expert cache: {:.0} MB, a quarter of the model's {:.0} MB of experts, so most experts are read from disk",
                budget as f64 / 1e6,
                expert_bytes as f64 / 1e6
            );
            budget.to_string()
        }
    };
    let stream = StreamArgs {
        cache_budget: Some(cache_budget),
        ..StreamArgs::default()
    };
    with_backend(
        &args.backend.clone(),
        DemoJob {
            args,
            dir,
            params,
            stream,
        },
    )
}

struct DemoJob {
    args: Args,
    dir: PathBuf,
    params: floe_model::SamplingParams,
    stream: StreamArgs,
}

impl BackendJob for DemoJob {
    type Output = ();

    fn run<B: Backend + 'static>(self, backend: Arc<B>) -> anyhow::Result<()> {
        let name = backend.name();
        let loaded = load_with_source(
            &self.dir,
            backend,
            &floe_model::LoadOptions {
                resident_experts: self.args.resident_experts,
                ..floe_model::LoadOptions::default()
            },
            &self.stream,
            None,
        )?;
        GenerationRequest {
            prompt: &self.args.prompt,
            chat: false,
            max_tokens: self.args.max_tokens,
            context: None,
            params: self.params,
            stats: true,
            backend_name: &name,
        }
        .run(&loaded)
    }
}
