//! floe's compute layer: the [`Backend`] trait models are written against, and the CPU backend.

mod backend;
mod error;

pub use backend::{Activation, AttentionSpec, Backend, RopeSpec, Routing, WeightData};
pub use error::ComputeError;
