//! The generation loop: prefill the prompt in one forward pass, then decode one token at a time
//! until a stop token, the token budget or the context limit, with timing and expert traffic.

use std::time::{Duration, Instant};

use floe_compute::Backend;

use crate::{
    CountingExpertSource, ExpertTraffic, LogitsWanted, Model, ModelError, ModelState, Sampler,
    StreamDecoder, TextTokenizer, Timings,
};

/// When to stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Most tokens to generate (a stop token counts).
    pub max_tokens: usize,
    /// Tokens that end generation (not passed to the callback).
    pub stop_tokens: Vec<u32>,
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// A stop token was generated.
    StopToken(u32),
    /// `max_tokens` were generated.
    MaxTokens,
    /// The context is full (the last generated token could not be fed back).
    ContextFull,
}

/// What one phase (prefill or decode) took.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PhaseStats {
    /// Tokens run through the model in this phase.
    pub tokens: usize,
    /// Wall-clock time of the phase (forward passes and sampling).
    pub time: Duration,
    /// Time per forward-pass phase.
    pub timings: Timings,
    /// Expert blobs delivered.
    pub experts: ExpertTraffic,
}

impl PhaseStats {
    /// Tokens per second (0 for an empty phase).
    pub fn tokens_per_second(&self) -> f64 {
        let secs = self.time.as_secs_f64();
        if self.tokens == 0 || secs == 0.0 {
            0.0
        } else {
            self.tokens as f64 / secs
        }
    }
}

/// The result of [`generate`].
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// The generated tokens, stop token included.
    pub tokens: Vec<u32>,
    /// Why it ended.
    pub stop: StopReason,
    /// The prompt's forward pass and first sample.
    pub prefill: PhaseStats,
    /// Every later forward pass (one token each) and sample.
    pub decode: PhaseStats,
}

/// Generates after `prompt` (which `state` must have room for), calling `on_token` with each
/// generated token that is not a stop token. `traffic`, when given, is the expert source the
/// model reads through, so the phases report its deliveries.
pub fn generate<B: Backend>(
    model: &dyn Model<B>,
    state: &mut ModelState<B>,
    prompt: &[u32],
    sampler: &mut Sampler,
    options: &GenerateOptions,
    traffic: Option<&CountingExpertSource>,
    on_token: &mut dyn FnMut(u32) -> Result<(), ModelError>,
) -> Result<Generation, ModelError> {
    if prompt.is_empty() {
        return Err(ModelError::EmptyInput("the prompt has no tokens".into()));
    }
    state.check_room(prompt.len())?;
    let traffic_now = || traffic.map(|t| t.traffic()).unwrap_or_default();
    let mut history: Vec<u32> = prompt.to_vec();
    let mut tokens = Vec::new();

    let (timings0, traffic0, started) = (state.timings.clone(), traffic_now(), Instant::now());
    let logits = model.forward(prompt, state, LogitsWanted::Last)?;
    let mut next = sampler.sample(logits.last(), &history)?;
    let prefill = PhaseStats {
        tokens: prompt.len(),
        time: started.elapsed(),
        timings: state.timings.since(&timings0),
        experts: traffic_now().since(&traffic0),
    };

    let (timings0, traffic0, started) = (state.timings.clone(), traffic_now(), Instant::now());
    let mut decoded = 0;
    let stop = loop {
        if options.max_tokens == 0 {
            break StopReason::MaxTokens;
        }
        tokens.push(next);
        history.push(next);
        if options.stop_tokens.contains(&next) {
            break StopReason::StopToken(next);
        }
        on_token(next)?;
        if tokens.len() >= options.max_tokens {
            break StopReason::MaxTokens;
        }
        if state.remaining() == 0 {
            break StopReason::ContextFull;
        }
        let logits = model.forward(&[next], state, LogitsWanted::Last)?;
        decoded += 1;
        next = sampler.sample(logits.last(), &history)?;
    };
    let decode = PhaseStats {
        tokens: decoded,
        time: started.elapsed(),
        timings: state.timings.since(&timings0),
        experts: traffic_now().since(&traffic0),
    };
    Ok(Generation {
        tokens,
        stop,
        prefill,
        decode,
    })
}

/// [`generate`] with streaming text: `on_text` receives each piece of text as soon as it is
/// complete UTF-8 (see [`StreamDecoder`]), and the rest at the end.
#[allow(clippy::too_many_arguments)]
pub fn generate_text<B: Backend>(
    model: &dyn Model<B>,
    state: &mut ModelState<B>,
    tokenizer: &TextTokenizer,
    prompt: &[u32],
    sampler: &mut Sampler,
    options: &GenerateOptions,
    traffic: Option<&CountingExpertSource>,
    on_text: &mut dyn FnMut(&str) -> Result<(), ModelError>,
) -> Result<Generation, ModelError> {
    let mut stream = StreamDecoder::new(true);
    let generation = generate(model, state, prompt, sampler, options, traffic, &mut |id| {
        let piece = stream.push(tokenizer, id)?;
        if piece.is_empty() {
            Ok(())
        } else {
            on_text(&piece)
        }
    })?;
    let rest = stream.finish(tokenizer)?;
    if !rest.is_empty() {
        on_text(&rest)?;
    }
    Ok(generation)
}
