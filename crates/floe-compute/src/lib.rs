//! floe's compute layer: the [`Backend`] trait models are written against, the operand checks
//! every backend shares ([`check`]), the CPU backend ([`cpu::CpuBackend`]), and (with the
//! `conformance` feature) the conformance suite every backend must pass (`conformance`).

mod backend;
mod by_ref;
pub mod check;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod cpu;
mod error;

pub use backend::{
    head_norm_rope_in_parts, qkv_prologue_in_parts, Activation, AttentionSpec, Backend,
    DeltaRuleSpec, ExpertCacheStats, ExpertPart, ExpertWeightKey, QkvPrologue, RopeSpec, Routing,
    WeightData,
};
pub use error::ComputeError;
