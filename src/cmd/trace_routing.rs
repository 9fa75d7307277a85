//! `floe bench --routing TRACE`: replays a routing trace by substituting, for each decode token
//! and MoE layer, the trace's expert ids for the ones the router chose.
//!
//! The substitution happens at the expert source: when the model asks a layer for its K routed
//! experts, the source reads the trace's K experts of that token and layer instead and hands
//! blob `i` of the trace to the model's `i`-th requested slot. The model therefore computes
//! exactly the work of its own routing (K experts of the same shape, with the router's weights),
//! while the reads, the cache and the prefetcher see the trace's access pattern. With random
//! weights the values are meaningless anyway; what is measured is I/O and compute. Replay is
//! active only for single-token fetches of K experts (decode); the prompt's batched fetches
//! read what the router chose. The model's prefetch hints are dropped during replay (they
//! follow the router, not the trace).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use floe_format::{Checkpoint, ExpertSource, FormatError};
use floe_stream::trace::{TokenRouting, TraceReader};

/// An [`ExpertSource`] that reads a trace's experts in place of the requested ones (see the
/// module documentation).
pub struct TraceRouting {
    inner: Arc<dyn ExpertSource>,
    tokens: Vec<TokenRouting>,
    /// Decoder layer index of each MoE layer, in order.
    moe_layers: Vec<u32>,
    /// The token whose routing is replayed now (advances at each fetch of the first MoE layer).
    token: AtomicUsize,
    started: AtomicBool,
    active: AtomicBool,
}

impl TraceRouting {
    /// Reads up to `max_tokens` tokens of the trace at `path` and checks them against
    /// `checkpoint`'s MoE layers. Replay starts inactive ([`activate`](Self::activate)).
    pub fn open(
        path: &Path,
        max_tokens: usize,
        checkpoint: &Checkpoint,
        inner: Arc<dyn ExpertSource>,
    ) -> anyhow::Result<Self> {
        let layers = &checkpoint.manifest().expert_layers;
        let experts: Vec<u32> = layers.iter().map(|l| l.blobs.len() as u32).collect();
        let mut tokens = Vec::new();
        let reader = TraceReader::open(path).context("--routing")?;
        for (i, token) in reader.take(max_tokens.max(1)).enumerate() {
            let token = token.context("--routing")?;
            if let Err(message) = token.check(&experts) {
                bail!(
                    "--routing {}: token {i} does not fit the model: {message}",
                    path.display()
                );
            }
            tokens.push(token);
        }
        if tokens.is_empty() {
            bail!("--routing {}: the trace has no tokens", path.display());
        }
        Ok(Self {
            inner,
            tokens,
            moe_layers: layers.iter().map(|l| l.layer).collect(),
            token: AtomicUsize::new(0),
            started: AtomicBool::new(false),
            active: AtomicBool::new(false),
        })
    }

    /// Starts replaying (call after the prompt's forward pass).
    pub fn activate(&self) {
        self.active.store(true, Ordering::SeqCst);
    }

    /// The trace's experts for `layer` of the current token, if replay applies to a fetch of
    /// `requested` experts.
    fn substitute(&self, layer: u32, requested: usize) -> Result<Option<Vec<u32>>, FormatError> {
        if !self.active.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let Some(moe_index) = self.moe_layers.iter().position(|&l| l == layer) else {
            return Ok(None);
        };
        let token = if moe_index == 0 && self.started.swap(true, Ordering::SeqCst) {
            self.token.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            self.token.load(Ordering::SeqCst)
        };
        let ids = &self.tokens[token % self.tokens.len()].layers[moe_index];
        if ids.len() != requested {
            return Err(FormatError::NotFound(format!(
                "--routing: layer {layer}: the trace routes {} experts but the model asked for {requested} (use a trace with the model's experts per token)",
                ids.len()
            )));
        }
        Ok(Some(ids.clone()))
    }
}

impl ExpertSource for TraceRouting {
    fn fetch(
        &self,
        layer: u32,
        experts: &[u32],
        on_ready: &mut dyn FnMut(usize, Bytes) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        match self.substitute(layer, experts.len())? {
            Some(ids) => self.inner.fetch(layer, &ids, on_ready),
            None => self.inner.fetch(layer, experts, on_ready),
        }
    }

    /// The model's hints come from its router, which the replay overrides: while replaying they
    /// would be wrong, so they are not asked for (and dropped).
    fn hint(&self, layer: u32, experts: &[u32]) {
        if !self.active.load(Ordering::SeqCst) {
            self.inner.hint(layer, experts);
        }
    }

    fn wants_hints(&self) -> bool {
        !self.active.load(Ordering::SeqCst) && self.inner.wants_hints()
    }
}
