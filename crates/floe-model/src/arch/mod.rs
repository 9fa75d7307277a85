//! One module per architecture, each built from [`crate::layers`].

pub mod common_config;
pub mod mixtral;
pub mod olmoe;
pub mod qwen3_5_moe;
pub mod qwen3_moe;
pub mod qwen3_next;
