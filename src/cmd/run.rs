//! `floe run`: generate text from a prompt, streamed to stdout as it is produced. Also the pieces
//! `floe logits` and `floe demo` share: backend choice, model loading, the generation report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use floe_compute::Backend;
use floe_format::{Checkpoint, ExpertSource, PreadExpertSource};
use floe_model::{
    generate_text, load_model_with, stop_tokens, ChatMessage, ChatTemplate, CountingExpertSource,
    GenerateOptions, Generation, LoadOptions, Model, ModelError, PhaseStats, Sampler,
    SamplingParams, TextTokenizer,
};

pub use super::backend::{with_backend, BackendArgs, BackendJob};

/// The context limit used when `--ctx` is not given (capped by the model's own limit).
const DEFAULT_CONTEXT: usize = 4096;

/// Arguments of `floe run`.
#[derive(clap::Args)]
pub struct Args {
    /// The floe checkpoint directory (made by `floe convert`).
    pub model: PathBuf,
    /// The prompt.
    #[arg(short, long)]
    pub prompt: String,
    /// Most tokens to generate.
    #[arg(short = 'n', long = "max-tokens", default_value_t = 128)]
    pub max_tokens: usize,
    /// Format the prompt as a user message with the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// Print per-phase times and expert bytes read to stderr.
    #[arg(long)]
    pub stats: bool,
    /// Context limit in tokens (prompt plus generated); default min(4096, the model's limit).
    #[arg(long)]
    pub ctx: Option<usize>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// How the model is set up, beyond what its checkpoint says.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LoadArgs {
    /// Route each token to K experts instead of the number in the model's config.json
    /// (num_experts_per_tok): fewer reads less from disk per token at some cost in quality;
    /// at most the experts of a layer.
    #[arg(long = "experts-per-token", value_name = "K")]
    pub experts_per_token: Option<usize>,
    /// Load every routed expert into backend memory at start (RAM for --backend cpu, VRAM for
    /// wgpu), for models that fit; expert selection then stays on the device, with no reads
    /// from disk or readbacks per token. Experts are read once through a plain reader, so the
    /// streaming cache (--cache-budget) does not apply.
    #[arg(long, conflicts_with = "cache_budget")]
    pub resident_experts: bool,
    #[command(flatten)]
    pub stream: super::stream::StreamArgs,
}

impl LoadArgs {
    /// The library's load options.
    pub fn options(&self) -> LoadOptions {
        LoadOptions {
            experts_per_token: self.experts_per_token,
            resident_experts: self.resident_experts,
        }
    }
}

/// Sampling options.
#[derive(clap::Args, Clone, Debug)]
pub struct SamplingArgs {
    /// Temperature; 0 is greedy.
    #[arg(long = "temp", default_value_t = 0.7)]
    pub temperature: f32,
    /// Keep the K most likely tokens (0: all).
    #[arg(long, default_value_t = 20)]
    pub top_k: usize,
    /// Nucleus sampling: keep the most likely tokens up to this total probability (1: off).
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Drop tokens less likely than this fraction of the most likely one (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub min_p: f32,
    /// Penalty on the last 64 tokens (1: off).
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Random seed (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
}

impl SamplingArgs {
    /// The sampling parameters, validated.
    pub fn params(&self) -> anyhow::Result<SamplingParams> {
        let seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        let params = SamplingParams {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: 64,
            seed,
        };
        params.validate()?;
        Ok(params)
    }
}

/// An open checkpoint, its model on a backend, and the counter of its expert reads.
pub struct LoadedModel<B: Backend> {
    /// The checkpoint.
    pub checkpoint: Arc<Checkpoint>,
    /// The backend the model runs on.
    pub backend: Arc<B>,
    /// The model.
    pub model: Box<dyn Model<B>>,
    /// Counts the expert blobs the model reads.
    pub traffic: Arc<CountingExpertSource>,
    /// The streaming source under `traffic` (`None` with `--io-engine plain` or
    /// `--resident-experts`).
    pub stream: Option<Arc<floe_stream::StreamingExpertSource>>,
    /// The options it was loaded with.
    pub options: LoadOptions,
}

impl<B: Backend> LoadedModel<B> {
    /// How many experts each token is routed to, and where that number comes from; `None` for
    /// a model without routed experts.
    pub fn experts_per_token(&self) -> Option<String> {
        if self.model.info().sparse_layers == 0 {
            return None;
        }
        let configured = self.checkpoint.text_config()["num_experts_per_tok"].as_u64();
        Some(match (self.options.experts_per_token, configured) {
            (Some(k), Some(c)) => {
                format!("{k} (--experts-per-token; config.json num_experts_per_tok is {c})")
            }
            (Some(k), None) => format!("{k} (--experts-per-token)"),
            (None, Some(c)) => format!("{c} (config.json num_experts_per_tok)"),
            (None, None) => "as configured".to_string(),
        })
    }

    /// How many experts each token is routed to (the override, else config.json's
    /// `num_experts_per_tok`); `None` when neither says.
    pub fn top_k(&self) -> Option<usize> {
        self.options.experts_per_token.or_else(|| {
            self.checkpoint.text_config()["num_experts_per_tok"]
                .as_u64()
                .map(|k| k as usize)
        })
    }

    /// Expert bytes one token uses with resident experts: `k` blobs (`blob_length`, the bytes a
    /// streamed token is delivered per routed expert) of every sparse layer, from the
    /// checkpoint's layout; nothing is fetched for them.
    pub fn resident_expert_bytes_per_token(&self) -> u64 {
        let k = self.top_k().unwrap_or(0) as u64;
        self.checkpoint
            .manifest()
            .expert_layers
            .iter()
            .map(|l| k.min(l.blobs.len() as u64) * l.blob_length)
            .sum()
    }
}

/// Opens the checkpoint in `dir` and loads its model onto `backend`, with the command line's load and streaming settings.
pub fn load_args<B: Backend + 'static>(
    dir: &Path,
    backend: Arc<B>,
    args: &LoadArgs,
) -> anyhow::Result<LoadedModel<B>> {
    load_with_source(dir, backend, &args.options(), &args.stream, None)
}

/// Wraps the expert source a model reads through (e.g. to replay a routing trace).
pub type WrapSource<'a> = dyn Fn(Arc<dyn ExpertSource>) -> Arc<dyn ExpertSource> + 'a;

/// Loads with `options`, experts read as `stream` says (with `options.resident_experts`: once,
/// at load, through a plain `pread` source, whatever `stream` says); `wrap`, when given, wraps the
/// source the model reads through (e.g. `floe bench --routing`).
pub fn load_with_source<B: Backend + 'static>(
    dir: &Path,
    backend: Arc<B>,
    options: &LoadOptions,
    stream: &super::stream::StreamArgs,
    wrap: Option<&WrapSource<'_>>,
) -> anyhow::Result<LoadedModel<B>> {
    let checkpoint = Arc::new(
        Checkpoint::open(dir)
            .with_context(|| format!("cannot open checkpoint {}", dir.display()))?,
    );
    let streaming = if options.resident_experts {
        None
    } else {
        stream.source(&checkpoint)?
    };
    let source: Arc<dyn ExpertSource> = match &streaming {
        Some(s) => s.clone(),
        None => Arc::new(PreadExpertSource::new(checkpoint.clone())),
    };
    let source = match wrap {
        Some(wrap) => wrap(source),
        None => source,
    };
    let traffic = Arc::new(CountingExpertSource::new(source));
    let model = load_model_with(
        checkpoint.clone(),
        backend.clone(),
        traffic.clone(),
        options,
    )
    .map_err(|e| match e {
        ModelError::Argument { ref name, .. } if name == "experts_per_token" => {
            anyhow::anyhow!("--experts-per-token: {e}")
        }
        e => anyhow::Error::new(e),
    })
    .with_context(|| format!("cannot load the model in {}", dir.display()))?;
    Ok(LoadedModel {
        checkpoint,
        backend,
        model,
        traffic,
        stream: streaming,
        options: options.clone(),
    })
}

/// The checkpoint's tokenizer, or an error saying that this command needs one.
pub fn tokenizer_for(checkpoint: &Checkpoint, command: &str) -> anyhow::Result<TextTokenizer> {
    TextTokenizer::from_checkpoint(checkpoint).with_context(|| {
        format!("`floe {command}` needs the model's tokenizer to turn text into tokens (`floe logits --tokens` works without one)")
    })
}

/// Runs `floe run`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.prompt.trim().is_empty() {
        bail!("--prompt is empty: give the text to continue");
    }
    let params = args.sampling.params()?;
    let backend = args.backend.clone();
    with_backend(&backend, RunJob { args, params })
}

struct RunJob {
    args: Args,
    params: SamplingParams,
}

impl BackendJob for RunJob {
    type Output = ();

    fn run<B: Backend + 'static>(self, backend: Arc<B>) -> anyhow::Result<()> {
        let RunJob { args, params } = self;
        let name = backend.name();
        let loaded = load_args(&args.model, backend, &args.load)?;
        let request = GenerationRequest {
            prompt: &args.prompt,
            chat: args.chat,
            max_tokens: args.max_tokens,
            context: args.ctx,
            params,
            stats: args.stats,
            backend_name: &name,
        };
        request.run(&loaded)
    }
}

/// One generation: prompt, options, and whether to print detailed statistics.
pub struct GenerationRequest<'a> {
    /// The prompt text.
    pub prompt: &'a str,
    /// Apply the chat template.
    pub chat: bool,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Context limit (`None`: the default).
    pub context: Option<usize>,
    /// Sampling.
    pub params: SamplingParams,
    /// Print per-phase statistics.
    pub stats: bool,
    /// The backend's description, for the statistics.
    pub backend_name: &'a str,
}

impl GenerationRequest<'_> {
    /// Tokenizes the prompt, generates with text streamed to stdout, and reports speed to stderr.
    pub fn run<B: Backend + 'static>(&self, loaded: &LoadedModel<B>) -> anyhow::Result<()> {
        let info = loaded.model.info();
        let tokenizer = tokenizer_for(&loaded.checkpoint, "run")?;
        let template = ChatTemplate::from_checkpoint(&loaded.checkpoint);
        let prompt_tokens = if self.chat {
            let template = match &template {
                Ok(t) => t,
                Err(e) => bail!("--chat needs the model's chat template: {e}"),
            };
            let text = template.render(&[ChatMessage::new("user", self.prompt)], true)?;
            tokenizer.encode(&text, false)?
        } else {
            tokenizer.encode(self.prompt, true)?
        };
        if prompt_tokens.is_empty() {
            bail!("the prompt encodes to no tokens");
        }
        let context = self
            .context
            .unwrap_or(DEFAULT_CONTEXT.min(info.max_context));
        if prompt_tokens.len() > context {
            bail!(
                "the prompt is {} tokens, longer than the context limit of {context} tokens (--ctx; the model allows {})",
                prompt_tokens.len(),
                info.max_context
            );
        }
        let mut state = loaded.model.new_state(context)?;
        let mut sampler = Sampler::new(self.params.clone())?;
        let options = GenerateOptions {
            max_tokens: self.max_tokens,
            stop_tokens: stop_tokens(
                &loaded.checkpoint,
                info,
                Some(&tokenizer),
                template.as_ref().ok(),
            )?,
        };
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let generation = generate_text(
            loaded.model.as_ref(),
            &mut state,
            &tokenizer,
            &prompt_tokens,
            &mut sampler,
            &options,
            Some(&loaded.traffic),
            &mut |text| {
                out.write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .map_err(|source| ModelError::Io {
                        path: PathBuf::from("<stdout>"),
                        source,
                    })
            },
        )?;
        writeln!(out).context("writing to stdout")?;
        drop(out);
        report(&generation, self.stats, self.backend_name);
        if self.stats {
            if let Some(k) = loaded.experts_per_token() {
                eprintln!("experts per token: {k}");
            }
            if loaded.options.resident_experts {
                eprintln!(
                    "experts: resident in backend memory (selected on the device; nothing read per token)"
                );
            }
            if let Some(stream) = &loaded.stream {
                super::stream::print_stats(stream);
            }
            if let Some(stats) = loaded.backend.expert_cache_stats() {
                eprintln!("{}", gpu_expert_cache_line(&stats));
            }
        }
        Ok(())
    }
}

/// The backend's expert cache counters as one line of `--stats`.
pub fn gpu_expert_cache_line(s: &floe_compute::ExpertCacheStats) -> String {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    format!(
        "gpu expert cache: budget {:.1} MiB, resident {:.1} MiB ({} weights), {} hits, {} misses, {} evictions, hit rate {:.1}%",
        mib(s.budget_bytes),
        mib(s.resident_bytes),
        s.resident_weights,
        s.hits,
        s.misses,
        s.evictions,
        100.0 * s.hit_rate()
    )
}

/// The backend's expert cache counters as a JSON object (`floe bench`'s `gpu_expert_cache`).
pub fn gpu_expert_cache_json(s: &floe_compute::ExpertCacheStats) -> serde_json::Value {
    serde_json::json!({
        "budget_bytes": s.budget_bytes,
        "resident_bytes": s.resident_bytes,
        "resident_weights": s.resident_weights,
        "hits": s.hits,
        "misses": s.misses,
        "evictions": s.evictions,
        "hit_rate": s.hit_rate(),
    })
}

/// Prints prompt and generation speed (and with `detailed`, per-phase times and expert reads)
/// to stderr.
pub fn report(g: &Generation, detailed: bool, backend_name: &str) {
    eprintln!(
        "prompt: {} tokens, {:.2} tok/s | generation: {} tokens, {:.2} tok/s | stop: {:?}",
        g.prefill.tokens,
        g.prefill.tokens_per_second(),
        g.tokens.len(),
        g.decode.tokens_per_second(),
        g.stop
    );
    if !detailed {
        return;
    }
    eprintln!("backend: {backend_name}");
    for (name, phase) in [("prefill", &g.prefill), ("decode", &g.decode)] {
        phase_report(name, phase);
    }
}

fn phase_report(name: &str, p: &PhaseStats) {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let phases: Vec<String> = p
        .timings
        .phases()
        .iter()
        .map(|(phase, d)| format!("{phase} {:.1} ms", ms(*d)))
        .collect();
    eprintln!(
        "{name}: {} forward tokens in {:.1} ms ({})",
        p.tokens,
        ms(p.time),
        phases.join(", ")
    );
    let per_token = if p.tokens > 0 {
        p.experts.bytes as f64 / p.tokens as f64
    } else {
        0.0
    };
    eprintln!(
        "{name}: experts read: {} blobs, {:.1} MiB ({:.2} MiB per token)",
        p.experts.blobs,
        p.experts.bytes as f64 / (1 << 20) as f64,
        per_token / (1 << 20) as f64
    );
}
