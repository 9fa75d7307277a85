//! Wall-clock time spent in each phase of the forward passes of a sequence.

use std::time::Duration;

/// Accumulated time per forward-pass phase. A lazy backend may move work between phases; the CPU
/// backend runs each operation when called, so these are exact there.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timings {
    /// Embedding lookups.
    pub embed: Duration,
    /// Attention blocks: norms, projections, RoPE, cache writes, attention, output projection.
    pub attention: Duration,
    /// MoE routers: router matmul and top-k.
    pub router: Duration,
    /// Waiting for expert blobs (time in `ExpertSource::fetch` not spent computing).
    pub expert_io: Duration,
    /// Computing with experts (gather, projections, SwiGLU, weighted combine).
    pub expert_compute: Duration,
    /// Dense MLP blocks, and the norm and residual add of every feed-forward half.
    pub dense_mlp: Duration,
    /// Final norm and LM head (and reading logits back).
    pub lm_head: Duration,
}

impl Timings {
    /// Each phase with its name, in forward order.
    pub fn phases(&self) -> [(&'static str, Duration); 7] {
        [
            ("embed", self.embed),
            ("attention", self.attention),
            ("router", self.router),
            ("expert io", self.expert_io),
            ("expert compute", self.expert_compute),
            ("dense mlp + norms", self.dense_mlp),
            ("lm head", self.lm_head),
        ]
    }

    /// The sum of every phase.
    pub fn total(&self) -> Duration {
        self.phases().iter().map(|(_, d)| *d).sum()
    }

    /// `self - earlier`, phase by phase (saturating), for the time of one stretch of work.
    pub fn since(&self, earlier: &Timings) -> Timings {
        Timings {
            embed: self.embed.saturating_sub(earlier.embed),
            attention: self.attention.saturating_sub(earlier.attention),
            router: self.router.saturating_sub(earlier.router),
            expert_io: self.expert_io.saturating_sub(earlier.expert_io),
            expert_compute: self.expert_compute.saturating_sub(earlier.expert_compute),
            dense_mlp: self.dense_mlp.saturating_sub(earlier.dense_mlp),
            lm_head: self.lm_head.saturating_sub(earlier.lm_head),
        }
    }
}
