//! Which architectures floe implements, and loading a checkpoint as the right one.

use std::sync::Arc;

use floe_compute::Backend;
use floe_format::{Checkpoint, ExpertSource};

use crate::arch::mixtral::{Mixtral, MIXTRAL};
use crate::arch::olmoe::{Olmoe, OLMOE};
use crate::arch::qwen3_5_moe::{self, QWEN3_5_MOE, QWEN3_5_MOE_TEXT};
use crate::arch::qwen3_moe::{Qwen3Moe, QWEN3_MOE};
use crate::arch::qwen3_next::{self, QWEN3_NEXT};
use crate::layers::moe::ExpertContext;
use crate::{Model, ModelError};

/// Builds a model from a checkpoint, a backend and its experts.
type Constructor<B> =
    fn(&Checkpoint, Arc<B>, ExpertContext) -> Result<Box<dyn Model<B>>, ModelError>;

/// One entry per architecture: its HF `model_type` and how to load it.
fn constructors<B: Backend + 'static>() -> Vec<(&'static str, Constructor<B>)> {
    vec![
        (QWEN3_MOE, |c, b, e| Ok(Box::new(Qwen3Moe::load(c, b, e)?))),
        (MIXTRAL, |c, b, e| Ok(Box::new(Mixtral::load(c, b, e)?))),
        (OLMOE, |c, b, e| Ok(Box::new(Olmoe::load(c, b, e)?))),
        (QWEN3_NEXT, |c, b, e| {
            Ok(Box::new(qwen3_next::load(c, b, e)?))
        }),
        (QWEN3_5_MOE_TEXT, |c, b, e| {
            Ok(Box::new(qwen3_5_moe::load(c, b, e)?))
        }),
        (QWEN3_5_MOE, |c, b, e| {
            Ok(Box::new(qwen3_5_moe::load(c, b, e)?))
        }),
    ]
}

/// The architectures (HF `model_type`s) floe implements.
pub fn supported_architectures() -> Vec<&'static str> {
    constructors::<floe_compute::cpu::CpuBackend>()
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// How [`load_model_with`] sets a model up, beyond what its checkpoint says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Routes every token to this many experts instead of `config.json`'s
    /// `num_experts_per_tok` (fewer to read less, more up to the experts of a layer); the
    /// router's renormalization rule is unchanged. `None` keeps the configuration's.
    pub experts_per_token: Option<usize>,
    /// Loads all routed experts into backend memory at load time (each sparse layer's gate, up
    /// and down projections as one [`Backend::weight_stack`] each) and selects them on the device
    /// per token with [`Backend::route_topk`], [`Backend::matmul_selected`] and
    /// [`Backend::combine_selected`]: no per-token expert reads and no readbacks per layer. For
    /// models whose experts fit in the backend's memory. `false` (the default) streams experts
    /// through the expert source per forward pass.
    pub resident_experts: bool,
}

/// Loads `checkpoint` as the architecture its manifest names, on `backend`, with routed experts
/// read through `experts`, as configured. An architecture floe does not implement is
/// [`ModelError::UnsupportedArch`], listing those it does.
pub fn load_model<B: Backend + 'static>(
    checkpoint: Arc<Checkpoint>,
    backend: Arc<B>,
    experts: Arc<dyn ExpertSource>,
) -> Result<Box<dyn Model<B>>, ModelError> {
    load_model_with(checkpoint, backend, experts, &LoadOptions::default())
}

/// [`load_model`] with `options`. With `options.resident_experts`, every expert blob is fetched
/// once through `experts` while loading (one fetch of all experts per layer) and forward passes
/// fetch nothing. An `experts_per_token` of 0, on a checkpoint without routed
/// experts, or above the experts of some MoE layer is [`ModelError::Argument`] naming
/// `experts_per_token`.
pub fn load_model_with<B: Backend + 'static>(
    checkpoint: Arc<Checkpoint>,
    backend: Arc<B>,
    experts: Arc<dyn ExpertSource>,
    options: &LoadOptions,
) -> Result<Box<dyn Model<B>>, ModelError> {
    let arch = checkpoint.arch().to_string();
    let constructor = constructors::<B>()
        .into_iter()
        .find(|(name, _)| *name == arch)
        .map(|(_, c)| c)
        .ok_or_else(|| ModelError::UnsupportedArch {
            arch: arch.clone(),
            supported: supported_architectures()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        })?;
    if let Some(k) = options.experts_per_token {
        check_experts_per_token(&checkpoint, k)?;
    }
    let context = ExpertContext {
        experts_per_token: options.experts_per_token,
        resident: options.resident_experts,
        ..ExpertContext::new(checkpoint.clone(), experts)
    };
    constructor(&checkpoint, backend, context)
}

/// Checks an `experts_per_token` override against every MoE layer of the checkpoint.
fn check_experts_per_token(checkpoint: &Checkpoint, k: usize) -> Result<(), ModelError> {
    let fewest = checkpoint
        .manifest()
        .expert_layers
        .iter()
        .map(|l| (l.layer, l.blobs.len()))
        .min_by_key(|&(_, n)| n);
    match fewest {
        _ if k == 0 => Err(ModelError::argument(
            "experts_per_token",
            "must be at least 1",
        )),
        None => Err(ModelError::argument(
            "experts_per_token",
            "the model has no routed experts",
        )),
        Some((layer, n)) if k > n => Err(ModelError::argument(
            "experts_per_token",
            format!("{k} exceeds the {n} experts of layer {layer}"),
        )),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use floe_compute::cpu::CpuBackend;

    #[test]
    fn every_supported_architecture_has_one_constructor() {
        let mut names = super::supported_architectures();
        assert!(names.contains(&"qwen3_moe") && names.contains(&"mixtral"));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "an architecture is registered twice");
        assert_eq!(super::constructors::<CpuBackend>().len(), count);
    }
}
