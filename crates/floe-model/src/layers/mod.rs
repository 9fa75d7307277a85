//! Architecture-independent building blocks: attention, dense MLP, sparse MoE.

pub mod attention;
pub mod mlp;
pub mod moe;
