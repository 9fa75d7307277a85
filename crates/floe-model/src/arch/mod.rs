//! One module per architecture, each built from [`crate::layers`].

pub mod qwen3_moe;
