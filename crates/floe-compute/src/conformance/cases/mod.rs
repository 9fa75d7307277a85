//! The case runners [`crate::backend_conformance_tests!`] calls: each builds random inputs from
//! its [`Case`](super::Case), runs one operation on the backend, and checks the result against
//! [`super::reference`] within [`super::tolerance`]. They can also be called directly.

mod attention;
mod elementwise;
mod errors;
mod recurrent;
mod rope;
mod router;
mod rows;
mod selected;
mod weights;

pub use attention::{attention, qkv_prologue};
pub use elementwise::{activation, add, mul, swiglu, swiglu_packed};
pub use errors::{
    attention_errors, elementwise_errors, embed_errors, matmul_errors, rms_norm_errors,
    rope_errors, router_errors, row_errors, tensor_errors, weight_errors,
};
pub use recurrent::{causal_conv1d, gated_delta_rule, recurrent_errors};
pub use rope::{head_norm_rope, rope};
pub use router::{softmax_topk, softmax_topk_many};
pub use rows::{
    gather_rows, reshape, scatter_add_rows, slice_cols, upload_download, write_rows, zeros,
};
pub use selected::{combine_selected, matmul_selected, route_topk, selected_errors};
pub use weights::{add_rms_norm, embed, matmul, rms_norm};

use super::compare::ok;
use crate::Backend;

/// Uploads `data` as `[rows, cols]`, failing the case if the backend refuses.
fn upload<B: Backend>(
    backend: &B,
    case: &str,
    data: &[f32],
    rows: usize,
    cols: usize,
) -> B::Tensor {
    let t = ok(case, "upload", backend.upload(data, rows, cols));
    assert_eq!(
        backend.shape(&t),
        [rows, cols],
        "{case}: upload returned the wrong shape"
    );
    t
}

/// Downloads `t`, checking that its shape is `shape`.
fn download<B: Backend>(
    backend: &B,
    case: &str,
    op: &str,
    t: &B::Tensor,
    shape: [usize; 2],
) -> Vec<f32> {
    assert_eq!(
        backend.shape(t),
        shape,
        "{case}: {op} returned a tensor of the wrong shape"
    );
    let values = ok(case, "download", backend.download(t));
    assert_eq!(
        values.len(),
        shape[0] * shape[1],
        "{case}: download of a {shape:?} tensor returned {} values",
        values.len()
    );
    values
}
