//! Quantization formats for floe.
//!
//! A [`QuantFormat`] describes how a `[rows, cols]` weight matrix is stored (the byte layouts are
//! documented in [`format`](mod@format)); [`quantize`] turns f32 values into that storage, and
//! [`QuantMatrix`] reads it back: row dequantization and the dot product of a stored row with an
//! f32 vector, the kernel every CPU matrix-vector product is built from. The affine formats are
//! byte-compatible with MLX, so MLX checkpoints import by copying bytes.
//!
//! For a matrix-vector product, prepare the input once and dot every row with it:
//!
//! ```
//! use floe_quant::{quantize, QuantFormat, QuantMatrix};
//!
//! let (rows, cols) = (2, 64);
//! let weights: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.37).sin()).collect();
//! let bytes = quantize(QuantFormat::Q4, rows, cols, &weights)?;
//! let m = QuantMatrix::new(QuantFormat::Q4, rows, cols, &bytes)?;
//! let x = vec![0.5f32; cols];
//! let prepared = m.prepare(&x);
//! let y: Vec<f32> = (0..rows).map(|r| m.dot_row_prepared(r, &prepared)).collect();
//! assert!((y[0] - m.dot_row(0, &x)).abs() < 1e-4);
//! # Ok::<(), floe_quant::QuantError>(())
//! ```
//!
//! For several inputs (prefill), dequantize each row once with [`QuantMatrix::dequantize_row`]
//! and dot it with every input with [`dot_f32`]. The kernels pick AVX-512 or AVX2 at run time
//! (see [`kernels`]); all methods take `&self` and may run on many threads at once.

mod affine;
mod concat;
mod convert;
mod error;
pub mod format;
pub mod kernels;
mod matrix;
mod prepared;
mod q8_0;
mod quantize;
mod row;

pub use concat::concat_rows;
pub use error::QuantError;
pub use format::{AffineSpec, QuantFormat, ScaleType};
pub use kernels::dot_f32;
pub use matrix::QuantMatrix;
pub use prepared::PreparedInput;
pub use quantize::{quantize, quantize_into};
