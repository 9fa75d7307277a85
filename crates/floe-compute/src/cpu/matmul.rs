//! `x · wᵀ` on the CPU. Output rows are split into parallel tasks; a weight row is read from
//! memory once for all tokens:
//!
//! - up to [`MAX_MATVEC_TOKENS`] tokens (decode, and the few tokens an expert gets in prefill):
//!   each token is prepared once and each weight row dotted with every token by floe-quant's
//!   quantized kernel while the row is in L1;
//! - more tokens (prefill of dense weights): a tile of weight rows is dequantized once and dotted
//!   with every token by an f32 kernel of 4 rows × 2 tokens.

use floe_quant::PreparedInput;
use rayon::prelude::*;

use super::tensor::{CpuTensor, CpuWeight};
use super::weight_rows::dequantize_row;
use super::CpuBackend;

/// Weight bytes a matrix-vector task reads at least (smaller tasks cost more to schedule than to
/// run).
const MIN_TASK_BYTES: usize = 64 * 1024;
/// Tasks per thread a matrix-vector product is split into, so that work stealing can even them.
const TASKS_PER_THREAD: usize = 8;
/// The most tokens computed with quantized dot products: dequantizing a row costs about as much
/// as three of its dot products (measured with AVX-512 kernels on `q4`, `q8_0` and `bf16`: equal
/// at 3 tokens, dequantized tiles faster from 4).
const MAX_MATVEC_TOKENS: usize = 3;
/// Weight rows a tiled task dequantizes at once and dots with every token.
const TILE_ROWS: usize = 16;

/// `x · wᵀ` (shapes checked by the caller).
pub(super) fn matmul(be: &CpuBackend, x: &CpuTensor, w: &CpuWeight) -> CpuTensor {
    let transposed = if x.rows <= MAX_MATVEC_TOKENS {
        matvec(be, x, w)
    } else {
        tiled(be, x, w)
    };
    if x.rows == 1 {
        return CpuTensor::new(1, w.rows, transposed);
    }
    let (t, n) = (x.rows, w.rows);
    let mut data = vec![0.0f32; t * n];
    for (row, values) in transposed.chunks_exact(t).enumerate() {
        for (token, v) in values.iter().enumerate() {
            data[token * n + row] = *v;
        }
    }
    CpuTensor::new(t, n, data)
}

/// `[N, T]`: every weight row dotted with each prepared token.
fn matvec(be: &CpuBackend, x: &CpuTensor, w: &CpuWeight) -> Vec<f32> {
    let (t, n) = (x.rows, w.rows);
    let matrix = w.matrix();
    let inputs: Vec<PreparedInput> = (0..t).map(|j| matrix.prepare(x.row(j))).collect();
    let row_bytes = (w.bytes.len() / n).max(1);
    let by_size = MIN_TASK_BYTES.div_ceil(row_bytes);
    let by_count = n.div_ceil(be.threads * TASKS_PER_THREAD);
    let rows_per_task = by_size.max(by_count).max(1);
    let mut out = vec![0.0f32; n * t];
    be.for_each_chunk(&mut out, rows_per_task * t, t * n * w.cols, |task, part| {
        let first = task * rows_per_task;
        for (i, dots) in part.chunks_exact_mut(t).enumerate() {
            for (d, input) in dots.iter_mut().zip(&inputs) {
                *d = matrix.dot_row_prepared(first + i, input);
            }
        }
    });
    out
}

/// `[N, T]`: each task dequantizes a tile of weight rows once and dots it with every token.
fn tiled(be: &CpuBackend, x: &CpuTensor, w: &CpuWeight) -> Vec<f32> {
    let (t, k, n) = (x.rows, x.cols, w.rows);
    let mut out = vec![0.0f32; n * t];
    let tile = |scratch: &mut Vec<f32>, (index, block): (usize, &mut [f32])| {
        let first = index * TILE_ROWS;
        let rows = block.len() / t;
        scratch.resize(TILE_ROWS * k, 0.0);
        for r in 0..rows {
            dequantize_row(w, first + r, &mut scratch[r * k..(r + 1) * k]);
        }
        dot_tile(be, &scratch[..rows * k], k, x, block);
    };
    let chunk = TILE_ROWS * t;
    if be.parallel(t * n * k) {
        be.install(|| {
            out.par_chunks_mut(chunk)
                .enumerate()
                .for_each_init(Vec::new, tile)
        });
    } else {
        let mut scratch = Vec::new();
        out.chunks_mut(chunk)
            .enumerate()
            .for_each(|item| tile(&mut scratch, item));
    }
    out
}

/// `block[r · T + j] = rows[r] · x[j]` for the dequantized `rows` (`k` values each): blocks of
/// 4 rows × 2 tokens, then the leftover rows and token.
fn dot_tile(be: &CpuBackend, rows: &[f32], k: usize, x: &CpuTensor, block: &mut [f32]) {
    let t = x.rows;
    let count = rows.len() / k;
    let row = |r: usize| &rows[r * k..(r + 1) * k];
    let mut put = |r0: usize, j0: usize, dots: &[&[f32]]| {
        for (j, values) in dots.iter().enumerate() {
            for (r, v) in values.iter().enumerate() {
                block[(r0 + r) * t + j0 + j] = *v;
            }
        }
    };
    let mut j = 0;
    while j < t {
        let pair = j + 1 < t;
        let mut r = 0;
        while r < count {
            let quad = r + 4 <= count;
            let rows4 = || [row(r), row(r + 1), row(r + 2), row(r + 3)];
            match (quad, pair) {
                (true, true) => {
                    let d = be.simd.dots::<4, 2>([x.row(j), x.row(j + 1)], rows4());
                    put(r, j, &[&d[0], &d[1]]);
                }
                (true, false) => {
                    let d = be.simd.dots::<4, 1>([x.row(j)], rows4());
                    put(r, j, &[&d[0]]);
                }
                (false, true) => {
                    let d = be.simd.dots::<1, 2>([x.row(j), x.row(j + 1)], [row(r)]);
                    put(r, j, &[&d[0], &d[1]]);
                }
                (false, false) => {
                    let d = be.simd.dots::<1, 1>([x.row(j)], [row(r)]);
                    put(r, j, &[&d[0]]);
                }
            }
            r += if quad { 4 } else { 1 };
        }
        j += if pair { 2 } else { 1 };
    }
}
