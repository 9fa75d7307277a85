//! The operations, as methods of [`crate::WgpuBackend`] recording kernels (operands already
//! checked by the [`floe_compute::Backend`] impl).

mod attention;
mod elementwise;
mod int8;
mod matmul;
mod norm;
mod recurrent;
mod router;
mod rows;
mod selected;

pub(crate) use int8::{KeptInt8, NO_ORDER, QUANTIZE_THREADS};
pub(crate) use matmul::format_constants;
pub(crate) use norm::{HeadNorm, HeadWindow};
