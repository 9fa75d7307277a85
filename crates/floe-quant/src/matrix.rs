//! A read-only view of a stored matrix: row dequantization and row·vector dot products.

use crate::{QuantError, QuantFormat};

/// A `[rows, cols]` matrix stored in `format`, borrowed from a byte slice (a mmap, a streamed
/// expert blob). Construction checks the byte length; reads never allocate.
#[derive(Clone, Copy, Debug)]
pub struct QuantMatrix<'a> {
    format: QuantFormat,
    rows: usize,
    cols: usize,
    bytes: &'a [u8],
}

impl<'a> QuantMatrix<'a> {
    /// Wraps `bytes` as a `[rows, cols]` matrix in `format`; fails if the shape is not storable in
    /// the format or `bytes.len()` is not exactly `format.matrix_bytes(rows, cols)`.
    pub fn new(format: QuantFormat, rows: usize, cols: usize, bytes: &'a [u8]) -> Result<Self, QuantError> {
        let expected = format.matrix_bytes(rows, cols)?;
        if bytes.len() != expected {
            return Err(QuantError::Shape(format!(
                "a [{rows}, {cols}] {format} matrix takes {expected} bytes, got {}",
                bytes.len()
            )));
        }
        Ok(Self { format, rows, cols, bytes })
    }

    /// The storage format.
    pub fn format(&self) -> QuantFormat {
        self.format
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (values per row).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The stored bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Dequantizes row `row` into `out` (`out.len() == cols`).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        let _ = (row, out);
        todo!("floe-quant helper implements this")
    }

    /// Dequantizes the whole matrix into `out` (`out.len() == rows * cols`).
    pub fn dequantize(&self, out: &mut [f32]) {
        let _ = out;
        todo!("floe-quant helper implements this")
    }

    /// The dot product of row `row` with `x` (`x.len() == cols`), accumulated in f32 by the
    /// fastest kernel this CPU supports.
    pub fn dot_row(&self, row: usize, x: &[f32]) -> f32 {
        let _ = (row, x);
        todo!("floe-quant helper implements this")
    }
}
