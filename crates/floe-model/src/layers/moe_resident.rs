//! Resident routed experts: every expert of a sparse layer loaded into backend memory at load
//! time, as three [`Backend::WeightStack`]s (gate, up, down), and selected on the device per
//! token (`route_topk` → `matmul_selected` → `combine_selected`, llama.cpp's `MUL_MAT_ID`), so a
//! forward pass neither reads expert bytes nor reads routing back to the CPU. On backends that
//! prefer it (`Backend::prefers_stacked_projections`), gate and up are stacked as one
//! `[2 · intermediate, hidden]` projection per expert where their formats match (one product
//! and `swiglu_packed` instead of two products and `swiglu`).

use std::time::Instant;

use bytes::Bytes;
use floe_compute::{Backend, WeightData};
use floe_format::{Checkpoint, ExpertSource, ExpertView, FormatError};

use crate::layers::moe::ExpertShape;
use crate::weights::stack_rows;
use crate::{ModelError, Timings};

/// The parts of one expert blob, checked against `shape`: `[gate, up, down]`.
pub(crate) fn blob_parts(
    checkpoint: &Checkpoint,
    layer: u32,
    id: u32,
    blob: &Bytes,
    shape: ExpertShape,
) -> Result<[WeightData; 3], ModelError> {
    let parts = checkpoint.split_blob(layer, blob)?;
    let (h, i) = (shape.hidden, shape.intermediate);
    let part = |name: &str, rows: usize, cols: usize| -> Result<WeightData, ModelError> {
        let view = find_part(&parts, name, layer, id)?;
        if view.rows != rows || view.cols != cols {
            return Err(ModelError::tensor(
                format!("layer {layer} expert {id} part {name}"),
                format!(
                    "expected [{rows}, {cols}], found [{}, {}]",
                    view.rows, view.cols
                ),
            ));
        }
        Ok(WeightData {
            format: view.format,
            rows,
            cols,
            bytes: view.bytes.clone(),
        })
    };
    Ok([part("gate", i, h)?, part("up", i, h)?, part("down", h, i)?])
}

fn find_part<'a>(
    parts: &'a [(String, ExpertView)],
    name: &str,
    layer: u32,
    expert: u32,
) -> Result<&'a ExpertView, ModelError> {
    parts
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .ok_or_else(|| {
            ModelError::tensor(
                format!("layer {layer} expert {expert}"),
                format!("blob has no '{name}' part"),
            )
        })
}

/// A sparse layer's routed experts resident in backend memory: entry `e` of each stack is
/// expert `e`'s projection.
pub(crate) struct ResidentExperts<B: Backend> {
    gate_up: GateUp<B>,
    down: B::WeightStack,
}

/// The gate and up projections of the experts.
enum GateUp<B: Backend> {
    /// Each entry is `[gate; up]` (`[2 · intermediate, hidden]`).
    Fused(B::WeightStack),
    /// Gate and up in stacks of their own (the backend reads weights in place, or their
    /// formats differ).
    Separate {
        gate: B::WeightStack,
        up: B::WeightStack,
    },
}

impl<B: Backend> ResidentExperts<B> {
    /// Fetches every one of the `num_experts` blobs of `layer` through `source` (one fetch of all
    /// ids; blobs may arrive in any order), splits them and hands each projection's parts to
    /// `backend` as one stack. A blob that is missing, delivered twice, malformed, or of another
    /// shape or format than its siblings is an error naming the layer.
    pub(crate) fn load(
        backend: &B,
        checkpoint: &Checkpoint,
        source: &dyn ExpertSource,
        layer: u32,
        num_experts: usize,
        shape: ExpertShape,
    ) -> Result<Self, ModelError> {
        let ids: Vec<u32> = (0..num_experts as u32).collect();
        let mut parts: Vec<Option<[WeightData; 3]>> = (0..num_experts).map(|_| None).collect();
        let mut failure: Option<ModelError> = None;
        let fetched = source.fetch(layer, &ids, &mut |i, blob| {
            let result = match parts.get(i) {
                Some(None) => blob_parts(checkpoint, layer, i as u32, &blob, shape).map(|p| {
                    parts[i] = Some(p);
                }),
                Some(Some(_)) => Err(ModelError::argument(
                    "expert",
                    format!("layer {layer}: the source delivered expert {i} twice"),
                )),
                None => Err(ModelError::argument(
                    "expert",
                    format!("source delivered index {i} of {num_experts} requested experts"),
                )),
            };
            result.map_err(|e| {
                let message = format!("layer {layer}: loading resident experts failed: {e}");
                failure = Some(e);
                FormatError::NotFound(message)
            })
        });
        if let Some(e) = failure {
            return Err(e);
        }
        fetched?;
        let (mut gate, mut up, mut down) = (
            Vec::with_capacity(num_experts),
            Vec::with_capacity(num_experts),
            Vec::with_capacity(num_experts),
        );
        for (id, p) in parts.into_iter().enumerate() {
            let [g, u, d] = p.ok_or_else(|| {
                ModelError::argument(
                    "expert",
                    format!("layer {layer}: the source never delivered expert {id}"),
                )
            })?;
            gate.push(g);
            up.push(u);
            down.push(d);
        }
        let stack = |name: &str, parts: Vec<WeightData>| {
            backend.weight_stack(parts).map_err(|e| {
                ModelError::tensor(
                    format!("experts of layer {layer}, part {name}"),
                    e.to_string(),
                )
            })
        };
        let fused = if backend.prefers_stacked_projections() {
            fused_gate_up(&gate, &up, layer)?
        } else {
            None
        };
        let gate_up = match fused {
            Some(parts) => GateUp::Fused(stack("gate_up", parts)?),
            None => GateUp::Separate {
                gate: stack("gate", gate)?,
                up: stack("up", up)?,
            },
        };
        Ok(Self {
            gate_up,
            down: stack("down", down)?,
        })
    }

    /// The experts on the already-normalized rows `x` (`[T, hidden]`) as `routes` (a `[T, 2k]`
    /// routing tensor of [`Backend::route_topk`]) selects them, all on the device:
    /// `combine(down[id] · swiglu(gate[id] · x, up[id] · x))` (`[T, hidden]`); the time goes to
    /// `timings.expert_compute`.
    pub(crate) fn forward(
        &self,
        backend: &B,
        x: &B::Tensor,
        routes: &B::Tensor,
        timings: &mut Timings,
    ) -> Result<B::Tensor, ModelError> {
        let started = Instant::now();
        let h = match &self.gate_up {
            GateUp::Fused(gate_up) => {
                backend.swiglu_packed(&backend.matmul_selected(x, gate_up, routes)?)?
            }
            GateUp::Separate { gate, up } => {
                let g = backend.matmul_selected(x, gate, routes)?;
                let u = backend.matmul_selected(x, up, routes)?;
                backend.swiglu(&g, &u)?
            }
        };
        let d = backend.matmul_selected(&h, &self.down, routes)?;
        let out = backend.combine_selected(&d, routes)?;
        timings.expert_compute += started.elapsed();
        Ok(out)
    }
}

/// Each expert's gate and up stacked into one `[2 · intermediate, hidden]` weight, or `None`
/// when some expert's gate and up differ in format (each is then kept on its own).
fn fused_gate_up(
    gate: &[WeightData],
    up: &[WeightData],
    layer: u32,
) -> Result<Option<Vec<WeightData>>, ModelError> {
    let stacked = gate
        .iter()
        .zip(up)
        .enumerate()
        .map(|(id, (g, u))| {
            let what = format!("layer {layer} expert {id} gate and up");
            stack_rows(&what, &[g.clone(), u.clone()])
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(stacked.into_iter().collect())
}
