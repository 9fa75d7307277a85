//! A sparse mixture-of-experts block with a softmax top-k router, computed layer-major: the
//! whole chunk of tokens is routed first, then each needed expert is fetched once through an
//! [`ExpertSource`] and applied to all of its tokens, in the order the blobs arrive. With
//! [`ExpertContext::resident`] every expert is loaded into backend memory instead and selected on
//! the device (`layers::moe_resident`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use floe_compute::{Backend, ExpertPart, ExpertWeightKey, Routing};
use floe_format::{Checkpoint, ExpertSource, FormatError};

use crate::layers::mlp::swiglu_mlp;
use crate::layers::moe_resident::{blob_parts, ResidentExperts};
use crate::weights::WeightLoader;
use crate::{ModelError, Timings};

/// Where a model's routed experts come from (the checkpoint, for the blob layout, and the source
/// delivering blobs), and how many each token uses.
#[derive(Clone)]
pub struct ExpertContext {
    /// The checkpoint whose manifest describes every blob.
    pub checkpoint: Arc<Checkpoint>,
    /// The source of blob bytes.
    pub source: Arc<dyn ExpertSource>,
    /// Routes every token to this many experts instead of each router's configured top-k
    /// (`--experts-per-token`); `None` keeps the configuration's.
    pub experts_per_token: Option<usize>,
    /// Loads every routed expert into backend memory when the model is loaded (through
    /// [`Backend::weight_stack`]) and selects them on the device per token
    /// ([`Backend::route_topk`], [`Backend::matmul_selected`], [`Backend::combine_selected`]):
    /// forward passes then read no expert bytes and nothing back per layer, and prefetch hints
    /// are not given. `false` streams experts through `source` per forward pass.
    pub resident: bool,
}

impl ExpertContext {
    /// Experts from `source`, laid out as `checkpoint` describes, at the configured top-k.
    pub fn new(checkpoint: Arc<Checkpoint>, source: Arc<dyn ExpertSource>) -> Self {
        Self {
            checkpoint,
            source,
            experts_per_token: None,
            resident: false,
        }
    }

    /// The experts per token of a router configured with `routing`: the override if set, else
    /// `routing.top_k`. An override outside `1 ..= routing.num_experts` is an error naming
    /// `experts_per_token`.
    pub fn top_k(&self, routing: &RouterConfig) -> Result<usize, ModelError> {
        match self.experts_per_token {
            None => Ok(routing.top_k),
            Some(k) if (1..=routing.num_experts).contains(&k) => Ok(k),
            Some(k) => Err(ModelError::argument(
                "experts_per_token",
                format!(
                    "{k} is not between 1 and the layer's {} experts",
                    routing.num_experts
                ),
            )),
        }
    }
}

/// How a router picks experts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouterConfig {
    /// Routed experts in the layer.
    pub num_experts: usize,
    /// Experts per token (as configured; [`ExpertContext::experts_per_token`] overrides it).
    pub top_k: usize,
    /// Whether the top-k probabilities are renormalized to sum to one.
    pub renormalize: bool,
}

/// The shape of one expert: a SwiGLU MLP `hidden → intermediate → hidden` stored as the blob
/// parts `gate` and `up` (`[intermediate, hidden]`) and `down` (`[hidden, intermediate]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpertShape {
    /// Residual width.
    pub hidden: usize,
    /// Intermediate width.
    pub intermediate: usize,
}

/// One sparse MoE block.
pub struct SparseMoe<B: Backend> {
    layer: u32,
    router: B::Weight,
    routing: RouterConfig,
    shape: ExpertShape,
    /// The layer's experts in backend memory when loaded resident; `None`: streamed.
    resident: Option<ResidentExperts<B>>,
}

/// Tokens routed to one expert: their rows in the chunk and combine weights.
#[derive(Default)]
struct ExpertWork {
    rows: Vec<u32>,
    weights: Vec<f32>,
}

impl<B: Backend> SparseMoe<B> {
    /// Loads the router `router_name` (`[num_experts, hidden]`) of decoder layer `layer` and
    /// checks that the checkpoint's expert layout of that layer matches `routing` and `shape`.
    /// When `experts` is [resident](ExpertContext::resident), also fetches every expert of the
    /// layer through its source and keeps them in backend memory.
    pub fn load(
        loader: &WeightLoader<'_, B>,
        experts: &ExpertContext,
        router_name: &str,
        layer: u32,
        routing: RouterConfig,
        shape: ExpertShape,
    ) -> Result<Self, ModelError> {
        check_expert_layout(loader.checkpoint(), layer, routing.num_experts, shape)?;
        let router = loader.matrix(router_name, routing.num_experts, shape.hidden)?;
        let resident = if experts.resident {
            Some(ResidentExperts::load(
                loader.backend(),
                &experts.checkpoint,
                experts.source.as_ref(),
                layer,
                routing.num_experts,
                shape,
            )?)
        } else {
            None
        };
        Ok(Self {
            layer,
            router,
            routing,
            shape,
            resident,
        })
    }

    /// Whether this block's experts are resident in backend memory.
    pub fn is_resident(&self) -> bool {
        self.resident.is_some()
    }

    /// The block applied to the already-normalized rows `x` (`[T, hidden]`); router, expert I/O
    /// and expert compute times are added to `timings`. `next`, the sparse block of the next
    /// layer if it has one, gets its prefetch hint from `x` ([`SparseMoe::hint`]), read back
    /// with this block's own routing where this block streams.
    pub fn forward(
        &self,
        backend: &B,
        x: &B::Tensor,
        experts: &ExpertContext,
        timings: &mut Timings,
        next: Option<&SparseMoe<B>>,
    ) -> Result<B::Tensor, ModelError> {
        self.forward_alongside(backend, x, experts, timings, next, &mut || Ok(()))
    }

    /// As [`forward`](Self::forward), running `alongside` exactly once while the experts load:
    /// when the first blob arrives (before its expert is computed), so that work overlaps the
    /// source's remaining reads, or after the fetch if it delivered nothing (resident experts:
    /// after routing, before the experts). Its time is not counted in `timings`' MoE phases; an
    /// error from it fails the block.
    pub fn forward_alongside(
        &self,
        backend: &B,
        x: &B::Tensor,
        experts: &ExpertContext,
        timings: &mut Timings,
        next: Option<&SparseMoe<B>>,
        alongside: &mut dyn FnMut() -> Result<(), ModelError>,
    ) -> Result<B::Tensor, ModelError> {
        let top_k = experts.top_k(&self.routing)?;
        if let Some(resident) = &self.resident {
            if let Some(next) = next {
                next.hint(backend, x, experts, timings)?;
            }
            // Routing stays on the device: no readback, no fetch.
            let started = Instant::now();
            let logits = backend.matmul(x, &self.router)?;
            let routes = backend.route_topk(&logits, top_k, self.routing.renormalize)?;
            timings.router += started.elapsed();
            alongside()?;
            return resident.forward(backend, x, &routes, timings);
        }
        let started = Instant::now();
        let [t, _] = backend.shape(x);
        let logits = backend.matmul(x, &self.router)?;
        let own = (&logits, top_k, self.routing.renormalize);
        let routings = match next.filter(|n| n.wants_hint(experts)) {
            None => backend.softmax_topk(own.0, own.1, own.2)?,
            Some(next) => {
                // The next layer's guess from the same rows, read back with this routing.
                let next_logits = backend.matmul(x, &next.router)?;
                let guess = (
                    &next_logits,
                    experts.top_k(&next.routing)?,
                    next.routing.renormalize,
                );
                let mut both = backend.softmax_topk_many(&[own, guess])?.into_iter();
                let (Some(routings), Some(guess)) = (both.next(), both.next()) else {
                    return Err(ModelError::argument(
                        "router",
                        format!("layer {}: backend returned too few routings", self.layer),
                    ));
                };
                next.send_hint(experts, &guess);
                routings
            }
        };
        let work = self.group_by_expert(&routings, t)?;
        timings.router += started.elapsed();

        let ids: Vec<u32> = work.keys().copied().collect();
        let mut acc = backend.zeros(t, self.shape.hidden)?;
        // Experts are computed as their blobs arrive, but combined in id order afterwards, so the
        // result does not depend on arrival order (bit for bit, whatever the source).
        let mut outputs: Vec<Option<B::Tensor>> = (0..ids.len()).map(|_| None).collect();
        let mut compute = Duration::ZERO;
        let mut failure: Option<ModelError> = None;
        let mut alongside_done = false;
        let mut alongside_time = Duration::ZERO;
        let fetch_started = Instant::now();
        let fetched = experts.source.fetch(self.layer, &ids, &mut |i, blob| {
            let alongside_result = if alongside_done {
                Ok(())
            } else {
                alongside_done = true;
                let alongside_started = Instant::now();
                let result = alongside();
                alongside_time += alongside_started.elapsed();
                result
            };
            let compute_started = Instant::now();
            let result = alongside_result.and_then(|()| {
                ids.get(i)
                    .and_then(|id| work.get(id).map(|w| (*id, w)))
                    .ok_or_else(|| {
                        ModelError::argument(
                            "expert",
                            format!(
                                "source delivered index {i} of {} requested experts",
                                ids.len()
                            ),
                        )
                    })
                    .and_then(|(id, w)| {
                        let out =
                            self.expert_output(backend, x, &experts.checkpoint, id, &blob, w)?;
                        outputs[i] = Some(out);
                        Ok(())
                    })
            });
            compute += compute_started.elapsed();
            result.map_err(|e| {
                let message = format!("layer {}: expert computation failed: {e}", self.layer);
                failure = Some(e);
                FormatError::NotFound(message)
            })
        });
        let fetch_time = fetch_started.elapsed().saturating_sub(alongside_time);
        timings.expert_compute += compute;
        timings.expert_io += fetch_time.saturating_sub(compute);
        if let Some(e) = failure {
            return Err(e);
        }
        fetched?;
        if !alongside_done {
            alongside()?;
        }
        let started = Instant::now();
        for (id, out) in ids.iter().zip(&outputs) {
            let (Some(out), Some(w)) = (out, work.get(id)) else {
                return Err(ModelError::argument(
                    "expert",
                    format!(
                        "layer {}: the source never delivered expert {id}",
                        self.layer
                    ),
                ));
            };
            backend.scatter_add_rows(&mut acc, out, &w.rows, &w.weights)?;
        }
        timings.expert_compute += started.elapsed();
        Ok(acc)
    }

    /// Prefetch: routes `x` (the previous layer's normalized post-attention rows, standing in for
    /// this layer's input, which does not exist yet) with this layer's router and hints the
    /// chosen experts to the source. Does nothing when the experts are resident or the source
    /// does not [want hints](ExpertSource::wants_hints). Hints only steer reads, never results.
    pub fn hint(
        &self,
        backend: &B,
        x: &B::Tensor,
        experts: &ExpertContext,
        timings: &mut Timings,
    ) -> Result<(), ModelError> {
        if !self.wants_hint(experts) {
            return Ok(());
        }
        let started = Instant::now();
        let top_k = experts.top_k(&self.routing)?;
        let logits = backend.matmul(x, &self.router)?;
        let routings = backend.softmax_topk(&logits, top_k, self.routing.renormalize)?;
        self.send_hint(experts, &routings);
        timings.router += started.elapsed();
        Ok(())
    }

    /// Whether this block takes prefetch hints: it streams and the source wants them.
    fn wants_hint(&self, experts: &ExpertContext) -> bool {
        self.resident.is_none() && experts.source.wants_hints()
    }

    /// Hints the experts of `routings` (a guess at this block's routing) to the source.
    fn send_hint(&self, experts: &ExpertContext, routings: &[Routing]) {
        let mut ids: Vec<u32> = routings
            .iter()
            .flat_map(|r| r.experts.iter().copied())
            .filter(|&e| (e as usize) < self.routing.num_experts)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        experts.source.hint(self.layer, &ids);
    }

    /// Which tokens (rows) go to which expert, with their weights; experts in ascending id order.
    fn group_by_expert(
        &self,
        routings: &[Routing],
        t: usize,
    ) -> Result<BTreeMap<u32, ExpertWork>, ModelError> {
        if routings.len() != t {
            return Err(ModelError::argument(
                "router",
                format!(
                    "layer {}: backend routed {} rows for {t} tokens",
                    self.layer,
                    routings.len()
                ),
            ));
        }
        let mut work: BTreeMap<u32, ExpertWork> = BTreeMap::new();
        for (row, routing) in routings.iter().enumerate() {
            for (&expert, &weight) in routing.experts.iter().zip(&routing.weights) {
                if expert as usize >= self.routing.num_experts {
                    return Err(ModelError::argument(
                        "router",
                        format!(
                            "layer {}: routed to expert {expert} of {}",
                            self.layer, self.routing.num_experts
                        ),
                    ));
                }
                let w = work.entry(expert).or_default();
                w.rows.push(row as u32);
                w.weights.push(weight);
            }
        }
        Ok(work)
    }

    /// Applies expert `id` (its `blob`) to the rows `work.rows` of `x` (unweighted, one output
    /// row per entry of `work.rows`).
    fn expert_output(
        &self,
        backend: &B,
        x: &B::Tensor,
        checkpoint: &Checkpoint,
        id: u32,
        blob: &Bytes,
        work: &ExpertWork,
    ) -> Result<B::Tensor, ModelError> {
        let [gate, up, down] = blob_parts(checkpoint, self.layer, id, blob, self.shape)?;
        let weight = |part, data| -> Result<B::Weight, ModelError> {
            let key = ExpertWeightKey {
                layer: self.layer,
                expert: id,
                part,
            };
            Ok(backend.expert_weight(key, data)?)
        };
        let gate = weight(ExpertPart::Gate, gate)?;
        let up = weight(ExpertPart::Up, up)?;
        let down = weight(ExpertPart::Down, down)?;
        // An expert that every row goes to, in order (each one of decode's routed experts),
        // reads x itself: no gathered copy, and on a GPU x's int8 blocks are reused.
        let every_row = work.rows.iter().copied().eq(0..backend.shape(x)[0] as u32);
        let gathered;
        let xs = if every_row {
            x
        } else {
            gathered = backend.gather_rows(x, &work.rows)?;
            &gathered
        };
        swiglu_mlp(backend, xs, &gate, &up, &down)
    }
}

/// Checks the manifest's expert layout of `layer` against the model's configuration.
fn check_expert_layout(
    checkpoint: &Checkpoint,
    layer: u32,
    num_experts: usize,
    shape: ExpertShape,
) -> Result<(), ModelError> {
    let what = format!("experts of layer {layer}");
    let layout = checkpoint.expert_layer(layer).ok_or_else(|| {
        ModelError::tensor(
            &what,
            "missing: config.json makes this layer sparse but the checkpoint has no experts for it",
        )
    })?;
    if layout.blobs.len() != num_experts {
        return Err(ModelError::tensor(
            &what,
            format!(
                "config.json has {num_experts} experts, the checkpoint {}",
                layout.blobs.len()
            ),
        ));
    }
    let (h, i) = (shape.hidden as u64, shape.intermediate as u64);
    for (name, rows, cols) in [("gate", i, h), ("up", i, h), ("down", h, i)] {
        let part = layout
            .parts
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                ModelError::tensor(&what, format!("blob layout has no '{name}' part"))
            })?;
        if part.rows != rows || part.cols != cols {
            return Err(ModelError::tensor(
                &what,
                format!(
                    "part '{name}' is [{}, {}], config.json needs [{rows}, {cols}]",
                    part.rows, part.cols
                ),
            ));
        }
    }
    Ok(())
}
