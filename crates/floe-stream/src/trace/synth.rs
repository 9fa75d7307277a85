//! Synthetic routing with the locality real MoE models show (research.md): within a prompt a
//! layer draws from a working set of 55–75% of its experts, popularity inside it is skewed, and
//! adjacent tokens share experts (8–38% overlap reported; ~30% by default).
//!
//! The generative model, per MoE layer:
//! * a fixed popularity: Zipf weights `1 / rank^skew` over a random permutation of the experts;
//! * per prompt (every `prompt_len` tokens) a working set of `working_set · experts` experts,
//!   sampled without replacement by popularity;
//! * per token: each of the previous token's experts is kept with probability
//!   `adjacent_overlap`, and the rest are drawn from the working set by popularity, excluding the
//!   previous token's experts; so the expected overlap with the previous token is exactly
//!   `adjacent_overlap`, and over a long prompt the layer touches the whole working set.

use serde::{Deserialize, Serialize};

use super::TokenRouting;
use crate::synth::WyRand;
use crate::StreamError;

/// Parameters of a synthetic trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSpec {
    /// MoE layers.
    pub layers: u32,
    /// Experts per layer.
    pub experts: u32,
    /// Experts per token.
    pub top_k: u32,
    /// Tokens per prompt (a new working set is drawn for each prompt).
    pub prompt_len: u32,
    /// Zipf exponent of expert popularity (0: uniform).
    pub skew: f64,
    /// Fraction of a layer's experts a prompt draws from (0 < f ≤ 1).
    pub working_set: f64,
    /// Expected fraction of a token's experts also used by the previous token (0 ≤ f < 1).
    pub adjacent_overlap: f64,
    /// Seed.
    pub seed: u64,
}

impl TraceSpec {
    /// The defaults from research.md for a model of `layers` × `experts`, `top_k` per token:
    /// working set 65% (the middle of 55–75%), adjacent overlap 30%, skew 0.6, prompts of 512.
    pub fn new(layers: u32, experts: u32, top_k: u32) -> Self {
        Self {
            layers,
            experts,
            top_k,
            prompt_len: 512,
            skew: 0.6,
            working_set: 0.65,
            adjacent_overlap: 0.3,
            seed: 0,
        }
    }

    /// Checks the parameters; the message names the one that is wrong.
    pub fn validate(&self) -> Result<(), StreamError> {
        let bad = |m: String| Err(StreamError::Config(m));
        if self.layers == 0 || self.experts == 0 || self.top_k == 0 || self.prompt_len == 0 {
            return bad("layers, experts, top-k and prompt length must be at least 1".into());
        }
        if !(self.working_set > 0.0 && self.working_set <= 1.0) {
            return bad(format!(
                "working set {} must be in (0, 1]",
                self.working_set
            ));
        }
        if !(0.0..1.0).contains(&self.adjacent_overlap) {
            return bad(format!(
                "adjacent overlap {} must be in [0, 1)",
                self.adjacent_overlap
            ));
        }
        if !(self.skew >= 0.0 && self.skew.is_finite()) {
            return bad(format!("skew {} must be a finite number ≥ 0", self.skew));
        }
        let set = self.working_set_size();
        if set < 2 * self.top_k {
            return bad(format!(
                "a working set of {set} experts ({}% of {}) needs at least twice top-k ({}) so a token can avoid the previous token's experts",
                self.working_set * 100.0,
                self.experts,
                2 * self.top_k
            ));
        }
        Ok(())
    }

    /// Experts in a prompt's working set.
    pub fn working_set_size(&self) -> u32 {
        ((self.working_set * f64::from(self.experts)).round() as u32).clamp(1, self.experts)
    }
}

/// One layer's generator state.
struct LayerRouting {
    popularity: Vec<f64>,
    /// The prompt's working set and the running sum of its weights.
    set: Vec<u32>,
    cumulative: Vec<f64>,
    previous: Vec<u32>,
}

/// An endless iterator of synthetic token routings (take as many as needed).
pub struct SyntheticTrace {
    spec: TraceSpec,
    rng: WyRand,
    layers: Vec<LayerRouting>,
    token: u64,
    /// The first token of the current prompt.
    prompt_start: u64,
}

impl SyntheticTrace {
    /// A generator for `spec` (validated).
    pub fn new(spec: TraceSpec) -> Result<Self, StreamError> {
        spec.validate()?;
        let mut rng = WyRand::new(spec.seed);
        let layers = (0..spec.layers)
            .map(|_| {
                let mut order: Vec<u32> = (0..spec.experts).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.below(i as u64 + 1) as usize);
                }
                let mut popularity = vec![0.0; spec.experts as usize];
                for (rank, &expert) in order.iter().enumerate() {
                    popularity[expert as usize] = 1.0 / ((rank + 1) as f64).powf(spec.skew);
                }
                LayerRouting {
                    popularity,
                    set: Vec::new(),
                    cumulative: Vec::new(),
                    previous: Vec::new(),
                }
            })
            .collect();
        Ok(Self {
            spec,
            rng,
            layers,
            token: 0,
            prompt_start: 0,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &TraceSpec {
        &self.spec
    }
}

impl LayerRouting {
    /// Draws a new working set of `size` by popularity (Efraimidis–Spirakis weighted sampling
    /// without replacement: keep the `size` largest `u^(1/w)`).
    fn new_prompt(&mut self, rng: &mut WyRand, size: usize) {
        let mut keyed: Vec<(f64, u32)> = self
            .popularity
            .iter()
            .enumerate()
            .map(|(e, &w)| (rng.next_f64().max(f64::MIN_POSITIVE).ln() / w, e as u32))
            .collect();
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.set = keyed[..size].iter().map(|&(_, e)| e).collect();
        let mut total = 0.0;
        self.cumulative = self
            .set
            .iter()
            .map(|&e| {
                total += self.popularity[e as usize];
                total
            })
            .collect();
        self.previous.clear();
    }

    fn draw(&self, rng: &mut WyRand) -> u32 {
        let total = *self
            .cumulative
            .last()
            .expect("a working set is never empty");
        let target = rng.next_f64() * total;
        let at = self
            .cumulative
            .partition_point(|&c| c <= target)
            .min(self.set.len() - 1);
        self.set[at]
    }

    fn token(&mut self, rng: &mut WyRand, top_k: usize, overlap: f64) -> Vec<u32> {
        let mut chosen: Vec<u32> = self
            .previous
            .iter()
            .copied()
            .filter(|_| rng.next_f64() < overlap)
            .collect();
        chosen.truncate(top_k);
        while chosen.len() < top_k {
            let e = self.draw(rng);
            if !chosen.contains(&e) && !self.previous.contains(&e) {
                chosen.push(e);
            }
        }
        self.previous = chosen.clone();
        chosen
    }
}

impl Iterator for SyntheticTrace {
    type Item = TokenRouting;

    fn next(&mut self) -> Option<TokenRouting> {
        let new_prompt =
            self.token == 0 || self.token - self.prompt_start == u64::from(self.spec.prompt_len);
        if new_prompt {
            self.prompt_start = self.token;
        }
        let size = self.spec.working_set_size() as usize;
        let top_k = self.spec.top_k.min(self.spec.experts) as usize;
        let overlap = self.spec.adjacent_overlap;
        let rng = &mut self.rng;
        let layers = self
            .layers
            .iter_mut()
            .map(|layer| {
                if new_prompt {
                    layer.new_prompt(rng, size);
                }
                layer.token(rng, top_k, overlap)
            })
            .collect();
        self.token += 1;
        Some(TokenRouting { layers })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_trace_has_the_requested_working_set_and_overlap() {
        let mut spec = TraceSpec::new(4, 128, 8);
        spec.prompt_len = 400;
        let tokens: Vec<TokenRouting> = SyntheticTrace::new(spec.clone())
            .unwrap()
            .take(1200)
            .collect();
        let mut overlap = (0usize, 0usize);
        for prompt in tokens.chunks(400) {
            for layer in 0..4 {
                let touched: HashSet<u32> = prompt
                    .iter()
                    .flat_map(|t| t.layers[layer].iter().copied())
                    .collect();
                let fraction = touched.len() as f64 / 128.0;
                assert!(
                    (0.55..=0.70).contains(&fraction),
                    "layer {layer} touched {fraction}"
                );
            }
            for pair in prompt.windows(2) {
                for layer in 0..4 {
                    let shared = pair[1].layers[layer]
                        .iter()
                        .filter(|e| pair[0].layers[layer].contains(e))
                        .count();
                    overlap.0 += shared;
                    overlap.1 += 8;
                }
            }
        }
        let measured = overlap.0 as f64 / overlap.1 as f64;
        assert!((measured - 0.3).abs() < 0.03, "adjacent overlap {measured}");
        for token in &tokens {
            token.check(&[128; 4]).unwrap();
        }
    }

    #[test]
    fn skew_concentrates_use_and_seeds_repeat() {
        let count_top = |skew: f64| {
            let mut spec = TraceSpec::new(1, 64, 4);
            spec.skew = skew;
            spec.adjacent_overlap = 0.0;
            let mut uses = vec![0u32; 64];
            for token in SyntheticTrace::new(spec).unwrap().take(2000) {
                for &e in &token.layers[0] {
                    uses[e as usize] += 1;
                }
            }
            uses.sort_unstable();
            uses[56..].iter().sum::<u32>()
        };
        assert!(count_top(1.2) > count_top(0.0) * 3 / 2);
        let spec = TraceSpec::new(2, 32, 4);
        let a: Vec<_> = SyntheticTrace::new(spec.clone())
            .unwrap()
            .take(10)
            .collect();
        let b: Vec<_> = SyntheticTrace::new(spec).unwrap().take(10).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_parameters_are_named() {
        let mut spec = TraceSpec::new(2, 16, 8);
        assert!(spec
            .validate()
            .unwrap_err()
            .to_string()
            .contains("twice top-k"));
        spec = TraceSpec::new(2, 128, 8);
        spec.adjacent_overlap = 1.0;
        assert!(spec
            .validate()
            .unwrap_err()
            .to_string()
            .contains("adjacent overlap"));
        spec.adjacent_overlap = 0.3;
        spec.working_set = 0.0;
        assert!(spec
            .validate()
            .unwrap_err()
            .to_string()
            .contains("working set"));
    }
}
