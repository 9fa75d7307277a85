//! Quantization formats for floe.
//!
//! A [`QuantFormat`] describes how a `[rows, cols]` weight matrix is stored; [`quantize`] turns
//! f32 values into that storage, and [`QuantMatrix`] reads it back: row dequantization and the
//! dot product of a stored row with an f32 vector, the kernel every CPU matrix-vector product is
//! built from. The affine formats are byte-compatible with MLX, so MLX checkpoints import by
//! copying bytes.

mod error;
pub mod format;
mod matrix;
mod quantize;

pub use error::QuantError;
pub use format::{AffineSpec, QuantFormat, ScaleType};
pub use matrix::QuantMatrix;
pub use quantize::{quantize, quantize_into};
