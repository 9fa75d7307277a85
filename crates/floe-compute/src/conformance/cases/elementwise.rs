//! Cases of the element-wise operations.

use super::{download, upload};
use crate::conformance::compare::{assert_close, ok};
use crate::conformance::reference::{self, Mat};
use crate::conformance::{tolerance, Case};
use crate::{Activation, Backend};

/// Values uniform in `±8`, with every 17th replaced by an extreme one (`±100`, where a naive
/// `e^x` overflows, or `±1e-3`).
fn activation_inputs(case: &mut Case, n: usize) -> Vec<f32> {
    let mut x = case.values(n, -8.0, 8.0);
    for (i, v) in x.iter_mut().enumerate().filter(|(i, _)| i % 17 == 5) {
        *v = [100.0, -100.0, 1e-3, -1e-3][i / 17 % 4];
    }
    x
}

/// `silu(gate) · up` of random `[rows, cols]` tensors.
pub fn swiglu<B: Backend>(backend: &B, mut case: Case, rows: usize, cols: usize) {
    let name = case.name();
    let gate = activation_inputs(&mut case, rows * cols);
    let up = case.values(rows * cols, -2.0, 2.0);
    let (gt, ut) = (
        upload(backend, name, &gate, rows, cols),
        upload(backend, name, &up, rows, cols),
    );
    let got = download(
        backend,
        name,
        "swiglu",
        &ok(name, "swiglu", backend.swiglu(&gt, &ut)),
        [rows, cols],
    );
    let want = reference::swiglu(
        &Mat::from_f32(rows, cols, &gate),
        &Mat::from_f32(rows, cols, &up),
    );
    assert_close(name, "swiglu", cols, &got, &want.data, |i| {
        tolerance::activation_tol(want.data[i])
    });
}

/// `swiglu_packed` of a random `[rows, 2 · cols]` tensor: `silu` of each row's first `cols`
/// values times its last `cols`.
pub fn swiglu_packed<B: Backend>(backend: &B, mut case: Case, rows: usize, cols: usize) {
    let name = case.name();
    let gate = activation_inputs(&mut case, rows * cols);
    let up = case.values(rows * cols, -2.0, 2.0);
    let packed: Vec<f32> = (0..rows)
        .flat_map(|r| {
            let row = r * cols..(r + 1) * cols;
            gate[row.clone()]
                .iter()
                .chain(&up[row])
                .copied()
                .collect::<Vec<_>>()
        })
        .collect();
    let xt = upload(backend, name, &packed, rows, 2 * cols);
    let got = download(
        backend,
        name,
        "swiglu_packed",
        &ok(name, "swiglu_packed", backend.swiglu_packed(&xt)),
        [rows, cols],
    );
    let want = reference::swiglu(
        &Mat::from_f32(rows, cols, &gate),
        &Mat::from_f32(rows, cols, &up),
    );
    assert_close(name, "swiglu_packed", cols, &got, &want.data, |i| {
        tolerance::activation_tol(want.data[i])
    });
}

/// An activation (`"silu"` or `"sigmoid"`) of a random `[rows, cols]` tensor.
pub fn activation<B: Backend>(
    backend: &B,
    mut case: Case,
    function: &str,
    rows: usize,
    cols: usize,
) {
    let name = case.name();
    let (f, reference): (Activation, fn(f64) -> f64) = match function {
        "silu" => (Activation::Silu, reference::silu),
        "sigmoid" => (Activation::Sigmoid, reference::sigmoid),
        other => panic!("{name}: unknown activation {other}"),
    };
    let x = activation_inputs(&mut case, rows * cols);
    let xt = upload(backend, name, &x, rows, cols);
    let got = download(
        backend,
        name,
        function,
        &ok(name, function, backend.activation(&xt, f)),
        [rows, cols],
    );
    let want: Vec<f64> = x.iter().map(|&v| reference(v as f64)).collect();
    assert_close(name, function, cols, &got, &want, |i| {
        tolerance::activation_tol(want[i])
    });
}

/// `a + b` of random `[rows, cols]` tensors.
pub fn add<B: Backend>(backend: &B, mut case: Case, rows: usize, cols: usize) {
    let name = case.name();
    let a = case.values(rows * cols, -4.0, 4.0);
    let b = case.values(rows * cols, -4.0, 4.0);
    let (at, bt) = (
        upload(backend, name, &a, rows, cols),
        upload(backend, name, &b, rows, cols),
    );
    let got = download(
        backend,
        name,
        "add",
        &ok(name, "add", backend.add(&at, &bt)),
        [rows, cols],
    );
    let want = reference::add(
        &Mat::from_f32(rows, cols, &a),
        &Mat::from_f32(rows, cols, &b),
    );
    assert_close(name, "add", cols, &got, &want.data, |i| {
        tolerance::elementwise_tol(want.data[i])
    });
}

/// `a · b` of a random `[rows, cols]` tensor and a random `[rows, cols]` one, or a `[rows, 1]`
/// one when `per_row`.
pub fn mul<B: Backend>(backend: &B, mut case: Case, rows: usize, cols: usize, per_row: bool) {
    let name = case.name();
    let b_cols = if per_row { 1 } else { cols };
    let a = case.values(rows * cols, -4.0, 4.0);
    let b = case.values(rows * b_cols, -4.0, 4.0);
    let (at, bt) = (
        upload(backend, name, &a, rows, cols),
        upload(backend, name, &b, rows, b_cols),
    );
    let got = download(
        backend,
        name,
        "mul",
        &ok(name, "mul", backend.mul(&at, &bt)),
        [rows, cols],
    );
    let want = reference::mul(
        &Mat::from_f32(rows, cols, &a),
        &Mat::from_f32(rows, b_cols, &b),
    );
    let what = format!("mul of [{rows}, {cols}] by [{rows}, {b_cols}]");
    assert_close(name, &what, cols, &got, &want.data, |i| {
        tolerance::elementwise_tol(want.data[i])
    });
}
