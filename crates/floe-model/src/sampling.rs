//! Choosing the next token from logits: greedy, or a seeded draw after repetition penalty,
//! temperature, top-k, top-p and min-p.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::ModelError;

/// How to pick tokens. A temperature of 0 is greedy (the other filters then do not matter).
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// Logits are divided by it before the softmax; 0 means greedy.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 disables.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probabilities sum to at least `top_p`;
    /// 1 disables.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one; 0 disables.
    pub min_p: f32,
    /// Penalty on tokens among the last `repeat_last_n` of the history: a positive logit is
    /// divided by it, a negative one multiplied (as HF and llama.cpp do); 1 disables.
    pub repeat_penalty: f32,
    /// How many of the most recent tokens the repetition penalty looks at.
    pub repeat_last_n: usize,
    /// Seed of the random generator: the same seed, logits and history give the same tokens.
    pub seed: u64,
}

impl SamplingParams {
    /// Greedy decoding (always the most likely token, lowest id on ties).
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Checks every parameter's range; the error names the parameter.
    pub fn validate(&self) -> Result<(), ModelError> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(ModelError::argument(
                "temperature",
                format!("must be a finite number ≥ 0, found {}", self.temperature),
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(ModelError::argument(
                "top-p",
                format!("must be in (0, 1], found {}", self.top_p),
            ));
        }
        if !(self.min_p >= 0.0 && self.min_p < 1.0) {
            return Err(ModelError::argument(
                "min-p",
                format!("must be in [0, 1), found {}", self.min_p),
            ));
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err(ModelError::argument(
                "repeat-penalty",
                format!("must be a finite number > 0, found {}", self.repeat_penalty),
            ));
        }
        Ok(())
    }
}

impl Default for SamplingParams {
    /// Temperature 0.7, top-k 20, top-p 0.95, min-p 0, no repetition penalty (over the last 64
    /// tokens when set), seed 0.
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_k: 20,
            top_p: 0.95,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

/// Picks tokens according to [`SamplingParams`], with its own seeded random generator.
pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
}

impl Sampler {
    /// A sampler for `params` (validated), seeded with `params.seed`.
    pub fn new(params: SamplingParams) -> Result<Self, ModelError> {
        params.validate()?;
        let rng = StdRng::seed_from_u64(params.seed);
        Ok(Self { params, rng })
    }

    /// The parameters.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// The next token given the `logits` of the last position and the tokens so far (`history`,
    /// prompt included, for the repetition penalty). NaN logits count as impossible; logits with
    /// no possible token are an error.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> Result<u32, ModelError> {
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, if l.is_nan() { f32::NEG_INFINITY } else { l }))
            .collect();
        self.apply_repeat_penalty(&mut candidates, history);
        if !candidates.iter().any(|(_, l)| *l > f32::NEG_INFINITY) {
            return Err(ModelError::argument(
                "logits",
                "no token has a finite logit",
            ));
        }
        if self.params.temperature == 0.0 {
            return Ok(argmax(&candidates));
        }
        let probs = self.filtered_distribution(candidates);
        let total: f64 = probs.iter().map(|(_, p)| p).sum();
        let mut u = self.rng.random::<f64>() * total;
        for &(id, p) in &probs {
            if u < p {
                return Ok(id);
            }
            u -= p;
        }
        Ok(probs.last().map(|(id, _)| *id).unwrap_or(0))
    }

    fn apply_repeat_penalty(&self, candidates: &mut [(u32, f32)], history: &[u32]) {
        let penalty = self.params.repeat_penalty;
        if penalty == 1.0 || self.params.repeat_last_n == 0 {
            return;
        }
        let window = &history[history.len().saturating_sub(self.params.repeat_last_n)..];
        let mut seen = vec![false; candidates.len()];
        for &t in window {
            if let Some(s) = seen.get_mut(t as usize) {
                *s = true;
            }
        }
        for ((_, l), seen) in candidates.iter_mut().zip(seen) {
            if seen {
                *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
            }
        }
    }

    /// The candidates left after temperature, top-k, top-p and min-p, with their (unnormalized
    /// after filtering) probabilities, most likely first.
    fn filtered_distribution(&self, mut candidates: Vec<(u32, f32)>) -> Vec<(u32, f64)> {
        let by_logit_desc =
            |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let k = self.params.top_k;
        if k > 0 && k < candidates.len() {
            candidates.select_nth_unstable_by(k - 1, by_logit_desc);
            candidates.truncate(k);
        }
        candidates.sort_by(by_logit_desc);
        let inv_t = 1.0 / self.params.temperature as f64;
        let max = candidates[0].1 as f64 * inv_t;
        let mut probs: Vec<(u32, f64)> = candidates
            .into_iter()
            .filter(|(_, l)| *l > f32::NEG_INFINITY)
            .map(|(id, l)| (id, (l as f64 * inv_t - max).exp()))
            .collect();
        let sum: f64 = probs.iter().map(|(_, p)| p).sum();
        for (_, p) in probs.iter_mut() {
            *p /= sum;
        }
        if self.params.top_p < 1.0 {
            let mut cumulative = 0.0;
            let mut keep = probs.len();
            for (i, (_, p)) in probs.iter().enumerate() {
                cumulative += p;
                if cumulative >= self.params.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
        }
        if self.params.min_p > 0.0 {
            let threshold = probs[0].1 * self.params.min_p as f64;
            probs.retain(|(_, p)| *p >= threshold);
        }
        probs
    }
}

/// The highest-logit token, lowest id on ties.
fn argmax(candidates: &[(u32, f32)]) -> u32 {
    let mut best = candidates[0];
    for &c in &candidates[1..] {
        if c.1 > best.1 {
            best = c;
        }
    }
    best.0
}

#[cfg(test)]
mod tests;
