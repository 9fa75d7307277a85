//! Trace replay: drive a [`StreamingExpertSource`] with a routing trace as a model would (layer
//! by layer, token by token), optionally hinting the next layer, and report what it cost.

use std::time::{Duration, Instant};

use floe_format::ExpertSource;

use crate::synth::WyRand;
use crate::trace::TokenRouting;
use crate::{StreamError, StreamStats, StreamingExpertSource};

/// How the replay hints the next layer's experts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HintMode {
    /// No hints.
    Off,
    /// Before fetching a layer, hint the next layer (the next token's first layer after the
    /// last) with its true experts, each replaced by a wrong one with probability
    /// `1 - accuracy`: a stand-in for a router-lookahead predictor (46–80% accurate reported).
    Predictor {
        /// Fraction of hinted experts that are right.
        accuracy: f64,
    },
}

/// Replay settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayOptions {
    /// Hints.
    pub hint: HintMode,
    /// Simulated compute per delivered blob (the model working on one expert while the others
    /// load); zero measures pure I/O.
    pub compute_per_blob: Duration,
    /// Tokens replayed before the statistics are reset (cache warm-up).
    pub warmup_tokens: usize,
    /// Seed of the predictor's mistakes.
    pub seed: u64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            hint: HintMode::Off,
            compute_per_blob: Duration::ZERO,
            warmup_tokens: 0,
            seed: 0,
        }
    }
}

/// What a replay measured (after warm-up).
#[derive(Clone, Debug)]
pub struct ReplayReport {
    /// Tokens measured.
    pub tokens: u64,
    /// Wall time of the measured tokens.
    pub wall: Duration,
    /// The source's statistics over the measured tokens.
    pub stats: StreamStats,
}

impl ReplayReport {
    /// Bytes read from disk per token.
    pub fn bytes_per_token(&self) -> f64 {
        if self.tokens == 0 {
            0.0
        } else {
            self.stats.bytes_read as f64 / self.tokens as f64
        }
    }

    /// Tokens per second of wall time (bounded by I/O when `compute_per_blob` is zero).
    pub fn tokens_per_second(&self) -> f64 {
        let s = self.wall.as_secs_f64();
        if s == 0.0 {
            0.0
        } else {
            self.tokens as f64 / s
        }
    }

    /// Bytes read per second of wall time, in GB/s.
    pub fn wall_gbps(&self) -> f64 {
        let s = self.wall.as_secs_f64();
        if s == 0.0 {
            0.0
        } else {
            self.stats.bytes_read as f64 / s / 1e9
        }
    }
}

/// Replays `tokens` through `source`: for every token, every MoE layer in order (trace entry `i`
/// is the source's `i`-th MoE layer; extra trailing trace layers are ignored, so a trace of the
/// full model drives a `--layers` slice), one `fetch` of that layer's experts. Each token is
/// checked against the checkpoint first; a bad token is an error naming its index.
pub fn replay(
    source: &StreamingExpertSource,
    tokens: impl IntoIterator<Item = Result<TokenRouting, StreamError>>,
    options: &ReplayOptions,
) -> Result<ReplayReport, StreamError> {
    let layers: Vec<u32> = source.layers().iter().map(|l| l.layer).collect();
    let experts: Vec<u32> = source.layers().iter().map(|l| l.experts).collect();
    let mut rng = WyRand::new(options.seed ^ 0x9e37_79b9);
    let mut tokens = tokens.into_iter().enumerate().peekable();
    let mut measured = 0u64;
    let mut started = Instant::now();
    if options.warmup_tokens == 0 {
        source.reset_stats();
    }
    while let Some((index, token)) = tokens.next() {
        let token = token?;
        token
            .check(&experts)
            .map_err(|message| invalid(index, message))?;
        let next_token = match tokens.peek() {
            Some((_, Ok(next))) if next.check(&experts).is_ok() => Some(next.layers[0].clone()),
            _ => None,
        };
        for (i, &layer) in layers.iter().enumerate() {
            if let HintMode::Predictor { accuracy } = options.hint {
                let next = if i + 1 < layers.len() {
                    Some((layers[i + 1], token.layers[i + 1].clone(), experts[i + 1]))
                } else {
                    next_token.clone().map(|ids| (layers[0], ids, experts[0]))
                };
                if let Some((next_layer, ids, count)) = next {
                    let guess = predict(&mut rng, &ids, count, accuracy);
                    source.hint(next_layer, &guess);
                }
            }
            source
                .fetch(layer, &token.layers[i], &mut |_, _blob| {
                    if !options.compute_per_blob.is_zero() {
                        spin(options.compute_per_blob);
                    }
                    Ok(())
                })
                .map_err(StreamError::from)?;
        }
        if index + 1 == options.warmup_tokens {
            source.reset_stats();
            started = Instant::now();
        } else if index + 1 > options.warmup_tokens {
            measured += 1;
        }
    }
    Ok(ReplayReport {
        tokens: measured,
        wall: started.elapsed(),
        stats: source.stats(),
    })
}

fn invalid(index: usize, message: String) -> StreamError {
    StreamError::Trace {
        path: "<trace>".into(),
        line: index + 1,
        message: format!("token {index}: {message}"),
    }
}

/// `truth` with each expert replaced, with probability `1 - accuracy`, by another expert not in
/// the guess.
fn predict(rng: &mut WyRand, truth: &[u32], experts: u32, accuracy: f64) -> Vec<u32> {
    let mut guess: Vec<u32> = Vec::with_capacity(truth.len());
    for &expert in truth {
        if rng.next_f64() < accuracy || experts as usize <= truth.len() {
            guess.push(expert);
        } else {
            loop {
                let other = rng.below(u64::from(experts)) as u32;
                if !truth.contains(&other) && !guess.contains(&other) {
                    guess.push(other);
                    break;
                }
            }
        }
    }
    guess
}

/// Busy-waits `time` (sleeping is far too coarse for per-expert compute of tens of µs).
fn spin(time: Duration) {
    let until = Instant::now() + time;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cache::PolicyKind;
    use crate::testing::TestCatalog;
    use crate::trace::UniformRouting;
    use crate::StreamConfig;

    fn source(policy: PolicyKind, budget: u64) -> StreamingExpertSource {
        let catalog = Arc::new(TestCatalog::new(3, 8, 8192, 2));
        let config = StreamConfig {
            policy,
            cache_budget: budget,
            ..StreamConfig::default()
        };
        StreamingExpertSource::with_catalog(catalog, config).unwrap()
    }

    #[test]
    fn replay_fetches_every_layer_of_every_token() {
        let source = source(PolicyKind::Lru, 64 * 8192);
        let tokens = UniformRouting::new(vec![8; 3], 2, 5).take(20).map(Ok);
        let options = ReplayOptions {
            warmup_tokens: 4,
            ..ReplayOptions::default()
        };
        let report = replay(&source, tokens, &options).unwrap();
        assert_eq!(report.tokens, 16);
        assert_eq!(report.stats.fetches, 48);
        assert_eq!(report.stats.requests, 96);
        assert!(
            report.stats.hit_rate() > 0.5,
            "24 blobs fit, so the warm cache hits: {}",
            report.stats.hit_rate()
        );
        assert!(report.bytes_per_token() < 2.0 * 3.0 * 8192.0);
    }

    #[test]
    fn a_perfect_predictor_prefetches_what_is_used() {
        let source = source(PolicyKind::None, 0);
        let tokens = UniformRouting::new(vec![8; 3], 2, 6).take(30).map(Ok);
        let options = ReplayOptions {
            hint: HintMode::Predictor { accuracy: 1.0 },
            ..ReplayOptions::default()
        };
        let report = replay(&source, tokens, &options).unwrap();
        let stats = &report.stats;
        assert!(stats.prefetch_issued > 0);
        assert!(stats.prefetch_accuracy() > 0.9, "{stats:?}");
        assert!(stats.prefetch_hits > 0);
    }

    #[test]
    fn bad_tokens_are_named() {
        let source = source(PolicyKind::None, 0);
        let tokens = vec![Ok(TokenRouting {
            layers: vec![vec![0, 1], vec![0, 9], vec![1, 2]],
        })];
        let err = replay(&source, tokens, &ReplayOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("token 0: layer 1: expert 9 is out of range"),
            "{err}"
        );
    }

    #[test]
    fn predictions_keep_the_requested_accuracy() {
        let mut rng = WyRand::new(1);
        let truth: Vec<u32> = (0..8).collect();
        let mut right = 0;
        for _ in 0..500 {
            let guess = predict(&mut rng, &truth, 128, 0.6);
            assert_eq!(guess.len(), 8);
            right += guess.iter().filter(|e| truth.contains(e)).count();
        }
        let accuracy = right as f64 / 4000.0;
        assert!((accuracy - 0.6).abs() < 0.05, "{accuracy}");
    }
}
