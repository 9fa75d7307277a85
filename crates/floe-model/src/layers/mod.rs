//! Architecture-independent building blocks: attention, dense MLP, sparse MoE, and the decoder
//! stack built from them.

pub mod attention;
pub mod decoder;
pub mod gated_attention;
pub mod gated_delta_net;
pub mod mlp;
pub mod moe;
pub(crate) mod moe_resident;
pub(crate) mod residual;
