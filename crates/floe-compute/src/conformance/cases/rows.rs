//! Cases of the data-movement operations, all bit-exact: upload/download, zeros, reshape,
//! slice_cols, gather_rows, write_rows; and scatter_add_rows.

use super::{download, upload};
use crate::conformance::compare::{assert_bits, assert_close, ok};
use crate::conformance::reference::{self, Mat};
use crate::conformance::{tolerance, Case};
use crate::Backend;

/// The NaN that fills destination rows an operation must leave alone.
const SENTINEL: f32 = f32::from_bits(0x7fc0_5a5a);

/// Random values with special ones mixed in (NaN, ±∞, −0, a subnormal, the largest finite).
fn awkward_values(case: &mut Case, n: usize) -> Vec<f32> {
    let special = [
        SENTINEL,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        1e-40,
        f32::MAX,
    ];
    let mut values = case.values(n, -1e3, 1e3);
    for (i, v) in values.iter_mut().enumerate().filter(|(i, _)| i % 11 == 3) {
        *v = special[i / 11 % special.len()];
    }
    values
}

/// A `[rows, cols]` upload downloads bit for bit, special values included.
pub fn upload_download<B: Backend>(backend: &B, mut case: Case, rows: usize, cols: usize) {
    let name = case.name();
    let values = awkward_values(&mut case, rows * cols);
    let got = download(
        backend,
        name,
        "upload",
        &upload(backend, name, &values, rows, cols),
        [rows, cols],
    );
    assert_bits(name, "upload then download", cols, &got, &values);
}

/// `zeros(rows, cols)` holds `+0.0` everywhere.
pub fn zeros<B: Backend>(backend: &B, case: Case, rows: usize, cols: usize) {
    let name = case.name();
    let got = download(
        backend,
        name,
        "zeros",
        &ok(name, "zeros", backend.zeros(rows, cols)),
        [rows, cols],
    );
    assert_bits(name, "zeros", cols, &got, &vec![0.0; rows * cols]);
}

/// A `[rows, cols]` tensor reshaped to `[new_rows, new_cols]` keeps its values in order.
pub fn reshape<B: Backend>(
    backend: &B,
    mut case: Case,
    rows: usize,
    cols: usize,
    new_rows: usize,
    new_cols: usize,
) {
    let name = case.name();
    let values = awkward_values(&mut case, rows * cols);
    let t = ok(
        name,
        "reshape",
        backend.reshape(
            upload(backend, name, &values, rows, cols),
            new_rows,
            new_cols,
        ),
    );
    let got = download(backend, name, "reshape", &t, [new_rows, new_cols]);
    assert_bits(name, "reshape", new_cols, &got, &values);
}

/// Columns `start .. start + len` of a random `[rows, cols]` tensor.
pub fn slice_cols<B: Backend>(
    backend: &B,
    mut case: Case,
    rows: usize,
    cols: usize,
    start: usize,
    len: usize,
) {
    let name = case.name();
    let values = awkward_values(&mut case, rows * cols);
    let t = upload(backend, name, &values, rows, cols);
    let got = download(
        backend,
        name,
        "slice_cols",
        &ok(name, "slice_cols", backend.slice_cols(&t, start, len)),
        [rows, len],
    );
    let want: Vec<f32> = values
        .chunks_exact(cols)
        .flat_map(|r| r[start..start + len].to_vec())
        .collect();
    assert_bits(name, "slice_cols", len, &got, &want);
}

/// `count` random rows (repeats and the last row included) of a random `[rows, cols]` tensor.
pub fn gather_rows<B: Backend>(
    backend: &B,
    mut case: Case,
    rows: usize,
    cols: usize,
    count: usize,
) {
    let name = case.name();
    let values = awkward_values(&mut case, rows * cols);
    let mut ids: Vec<u32> = (0..count).map(|_| case.below(rows) as u32).collect();
    ids[0] = (rows - 1) as u32;
    let t = upload(backend, name, &values, rows, cols);
    let got = download(
        backend,
        name,
        "gather_rows",
        &ok(name, "gather_rows", backend.gather_rows(&t, &ids)),
        [count, cols],
    );
    let want: Vec<f32> = ids
        .iter()
        .flat_map(|&r| values[r as usize * cols..(r as usize + 1) * cols].to_vec())
        .collect();
    assert_bits(name, "gather_rows", cols, &got, &want);
}

/// Writes `n` random rows at `at_row` of a `[capacity, cols]` tensor of NaN sentinels, then one
/// more row after them (as a KV cache is appended to); the rows written must hold the sources
/// and every other row its sentinel, bit for bit.
pub fn write_rows<B: Backend>(
    backend: &B,
    mut case: Case,
    capacity: usize,
    cols: usize,
    at_row: usize,
    n: usize,
) {
    let name = case.name();
    let first = awkward_values(&mut case, n * cols);
    let mut dst = upload(
        backend,
        name,
        &vec![SENTINEL; capacity * cols],
        capacity,
        cols,
    );
    ok(
        name,
        "write_rows",
        backend.write_rows(&mut dst, at_row, &upload(backend, name, &first, n, cols)),
    );
    // Built in f32 (not through the f64 reference) so that NaN payloads are kept exactly.
    let mut want = vec![SENTINEL; capacity * cols];
    want[at_row * cols..(at_row + n) * cols].copy_from_slice(&first);
    if at_row + n < capacity {
        let second = awkward_values(&mut case, cols);
        ok(
            name,
            "write_rows",
            backend.write_rows(
                &mut dst,
                at_row + n,
                &upload(backend, name, &second, 1, cols),
            ),
        );
        want[(at_row + n) * cols..(at_row + n + 1) * cols].copy_from_slice(&second);
    }
    let got = download(backend, name, "write_rows", &dst, [capacity, cols]);
    assert_bits(
        name,
        &format!("write_rows of {n} rows at {at_row} into {capacity}"),
        cols,
        &got,
        &want,
    );
}

/// `acc[rows[i]] += weights[i] · src[i]` for `n` source rows into a random `[acc_rows, cols]`
/// accumulator, with repeated destinations and (when `acc_rows > n`) untouched rows, which
/// must keep their bits.
pub fn scatter_add_rows<B: Backend>(
    backend: &B,
    mut case: Case,
    acc_rows: usize,
    cols: usize,
    n: usize,
) {
    let name = case.name();
    let acc = case.values(acc_rows * cols, -1.0, 1.0);
    let src = case.values(n * cols, -1.0, 1.0);
    let weights = case.values(n, -1.0, 1.0);
    // Destinations from the first half of the rows only (so the rest stay untouched), with a
    // repeat.
    let span = acc_rows.div_ceil(2);
    let mut rows: Vec<u32> = (0..n).map(|_| case.below(span) as u32).collect();
    if n > 1 {
        rows[n - 1] = rows[0];
    }
    let mut acc_t = upload(backend, name, &acc, acc_rows, cols);
    let src_t = upload(backend, name, &src, n, cols);
    ok(
        name,
        "scatter_add_rows",
        backend.scatter_add_rows(&mut acc_t, &src_t, &rows, &weights),
    );
    let got = download(backend, name, "scatter_add_rows", &acc_t, [acc_rows, cols]);
    let mut want = Mat::from_f32(acc_rows, cols, &acc);
    let srcm = Mat::from_f32(n, cols, &src);
    let w64: Vec<f64> = weights.iter().map(|&w| w as f64).collect();
    reference::scatter_add_rows(&mut want, &srcm, &rows, &w64);
    let mut magnitude: Vec<f64> = acc.iter().map(|v| v.abs() as f64).collect();
    let mut touched = vec![false; acc_rows];
    for (i, &r) in rows.iter().enumerate() {
        touched[r as usize] = true;
        for c in 0..cols {
            magnitude[r as usize * cols + c] += (w64[i] * srcm.at(i, c)).abs();
        }
    }
    let what = format!("scatter_add_rows of {n} rows into {acc_rows}");
    let tol = |i: usize| {
        if touched[i / cols] {
            tolerance::scatter_add_tol(magnitude[i])
        } else {
            0.0
        }
    };
    assert_close(name, &what, cols, &got, &want.data, tol);
    for (r, _) in touched.iter().enumerate().filter(|(_, t)| !**t) {
        let range = r * cols..(r + 1) * cols;
        assert_bits(
            name,
            &format!("{what}: untouched row {r}"),
            cols,
            &got[range.clone()],
            &acc[range],
        );
    }
}
