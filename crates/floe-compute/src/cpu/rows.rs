//! Row and column movement: slicing, gathering, scattering and embedding lookups.

use super::tensor::{CpuTensor, CpuWeight};
use super::weight_rows::dequantize_row;
use super::CpuBackend;

/// Columns `start .. start + len` of every row of `x`.
pub(super) fn slice_cols(be: &CpuBackend, x: &CpuTensor, start: usize, len: usize) -> CpuTensor {
    be.build_rows(x.rows, len, 1, x.rows * len, |row, out| {
        out.copy_from_slice(&x.row(row)[start..start + len]);
    })
}

/// Rows `ids` of `table`, dequantized.
pub(super) fn embed(be: &CpuBackend, table: &CpuWeight, ids: &[u32]) -> CpuTensor {
    be.build_rows(
        ids.len(),
        table.cols,
        1,
        ids.len() * table.cols * 4,
        |row, out| {
            dequantize_row(table, ids[row] as usize, out);
        },
    )
}

/// Rows `rows` of `x`, in that order.
pub(super) fn gather_rows(be: &CpuBackend, x: &CpuTensor, rows: &[u32]) -> CpuTensor {
    be.build_rows(rows.len(), x.cols, 1, rows.len() * x.cols, |row, out| {
        out.copy_from_slice(x.row(rows[row] as usize));
    })
}

/// `acc[rows[i]] += weights[i] · src[i]`, in the order of `i` (rows may repeat).
pub(super) fn scatter_add_rows(
    be: &CpuBackend,
    acc: &mut CpuTensor,
    src: &CpuTensor,
    rows: &[u32],
    weights: &[f32],
) {
    let cols = acc.cols;
    for (i, (&row, &weight)) in rows.iter().zip(weights).enumerate() {
        let start = row as usize * cols;
        be.simd
            .axpy(&mut acc.data[start..start + cols], weight, src.row(i));
    }
}
