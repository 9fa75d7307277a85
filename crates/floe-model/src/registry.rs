//! Which architectures floe implements, and loading a checkpoint as the right one.

use std::sync::Arc;

use floe_compute::Backend;
use floe_format::{Checkpoint, ExpertSource};

use crate::arch::qwen3_moe::{Qwen3Moe, QWEN3_MOE};
use crate::layers::moe::ExpertContext;
use crate::{Model, ModelError};

/// Builds a model from a checkpoint, a backend and an expert source.
type Constructor<B> =
    fn(Arc<Checkpoint>, Arc<B>, Arc<dyn ExpertSource>) -> Result<Box<dyn Model<B>>, ModelError>;

fn constructors<B: Backend + 'static>() -> [(&'static str, Constructor<B>); 1] {
    [(QWEN3_MOE, |checkpoint, backend, source| {
        let experts = ExpertContext {
            checkpoint: checkpoint.clone(),
            source,
        };
        Ok(Box::new(Qwen3Moe::load(&checkpoint, backend, experts)?))
    })]
}

/// The architectures (HF `model_type`s) floe implements.
pub fn supported_architectures() -> Vec<&'static str> {
    vec![QWEN3_MOE]
}

/// Loads `checkpoint` as the architecture its manifest names, on `backend`, with routed experts
/// read through `experts`. An architecture floe does not implement is
/// [`ModelError::UnsupportedArch`], listing those it does.
pub fn load_model<B: Backend + 'static>(
    checkpoint: Arc<Checkpoint>,
    backend: Arc<B>,
    experts: Arc<dyn ExpertSource>,
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
    constructor(checkpoint, backend, experts)
}

#[cfg(test)]
mod tests {
    use floe_compute::cpu::CpuBackend;

    #[test]
    fn every_supported_architecture_has_a_constructor() {
        let names: Vec<&str> = super::constructors::<CpuBackend>()
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(names, super::supported_architectures());
    }
}
