//! Element-wise operations.

use super::tensor::CpuTensor;
use super::CpuBackend;
use crate::Activation;

/// Elements per parallel task.
const CHUNK: usize = 16 * 1024;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn silu(x: f32) -> f32 {
    x * sigmoid(x)
}

/// A tensor of `a`'s shape holding `f(a[i], b[i])`.
fn zip_map(
    be: &CpuBackend,
    a: &CpuTensor,
    b: &[f32],
    f: impl Fn(f32, f32) -> f32 + Send + Sync,
) -> CpuTensor {
    let mut data = vec![0.0f32; a.data.len()];
    be.for_each_chunk(&mut data, CHUNK, a.data.len(), |chunk, out| {
        let range = chunk * CHUNK..chunk * CHUNK + out.len();
        for ((o, x), y) in out.iter_mut().zip(&a.data[range.clone()]).zip(&b[range]) {
            *o = f(*x, *y);
        }
    });
    CpuTensor::new(a.rows, a.cols, data)
}

/// `silu(gate) · up`.
pub(super) fn swiglu(be: &CpuBackend, gate: &CpuTensor, up: &CpuTensor) -> CpuTensor {
    zip_map(be, gate, &up.data, |g, u| silu(g) * u)
}

/// `f(x)`.
pub(super) fn activation(be: &CpuBackend, x: &CpuTensor, f: Activation) -> CpuTensor {
    match f {
        Activation::Silu => zip_map(be, x, &x.data, |v, _| silu(v)),
        Activation::Sigmoid => zip_map(be, x, &x.data, |v, _| sigmoid(v)),
    }
}

/// `a + b`.
pub(super) fn add(be: &CpuBackend, a: &CpuTensor, b: &CpuTensor) -> CpuTensor {
    zip_map(be, a, &b.data, |x, y| x + y)
}

/// `a · b`, `b` of `a`'s shape or one factor per row.
pub(super) fn mul(be: &CpuBackend, a: &CpuTensor, b: &CpuTensor) -> CpuTensor {
    if b.data.len() == a.data.len() {
        return zip_map(be, a, &b.data, |x, y| x * y);
    }
    be.build_rows(a.rows, a.cols, 1, a.data.len(), |row, out| {
        let factor = b.data[row];
        for (o, x) in out.iter_mut().zip(a.row(row)) {
            *o = x * factor;
        }
    })
}
