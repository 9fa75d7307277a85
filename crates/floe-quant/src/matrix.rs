//! A read-only view of a stored matrix: row dequantization and row·vector dot products.

use crate::prepared::PreparedInput;
use crate::row::{AffineRow, Row};
use crate::{kernels, QuantError, QuantFormat};

/// A `[rows, cols]` matrix stored in `format`, borrowed from a byte slice (a mmap, a streamed
/// expert blob). Construction checks the byte length; reads never allocate. The bytes need no
/// particular alignment.
///
/// The row-level methods take a row index and slices whose lengths are fixed by the shape; a
/// wrong index or length is a caller bug and panics with a message saying which (the stored
/// bytes themselves are validated by [`QuantMatrix::new`], so no byte content can panic).
#[derive(Clone, Copy, Debug)]
pub struct QuantMatrix<'a> {
    format: QuantFormat,
    rows: usize,
    cols: usize,
    bytes: &'a [u8],
    /// Bytes per row in each plane (see [`QuantFormat::row_plane_bytes`]).
    planes: [usize; 3],
}

impl<'a> QuantMatrix<'a> {
    /// Wraps `bytes` as a `[rows, cols]` matrix in `format`; fails if the shape is not storable in
    /// the format or `bytes.len()` is not exactly `format.matrix_bytes(rows, cols)`.
    pub fn new(
        format: QuantFormat,
        rows: usize,
        cols: usize,
        bytes: &'a [u8],
    ) -> Result<Self, QuantError> {
        let expected = format.matrix_bytes(rows, cols)?;
        if bytes.len() != expected {
            return Err(QuantError::Shape(format!(
                "a [{rows}, {cols}] {format} matrix takes {expected} bytes, got {}",
                bytes.len()
            )));
        }
        let (planes, _) = format.row_planes(cols);
        Ok(Self {
            format,
            rows,
            cols,
            bytes,
            planes,
        })
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

    /// The byte runs of row `row`.
    pub(crate) fn row(&self, row: usize) -> Row<'a> {
        assert!(
            row < self.rows,
            "row {row} of a matrix with {} rows",
            self.rows
        );
        let planes = self.planes;
        let run = |plane_start: usize, plane: usize| {
            let start = plane_start + row * planes[plane];
            &self.bytes[start..start + planes[plane]]
        };
        match self.format {
            QuantFormat::F32 => Row::F32(run(0, 0)),
            QuantFormat::F16 => Row::F16(run(0, 0)),
            QuantFormat::Bf16 => Row::Bf16(run(0, 0)),
            QuantFormat::Q8_0 => Row::Q8_0(run(0, 0)),
            QuantFormat::Affine(spec) => {
                let scales_start = self.rows * planes[0];
                let biases_start = scales_start + self.rows * planes[1];
                Row::Affine(AffineRow {
                    bits: spec.bits,
                    group: spec.group_size as usize,
                    scale_type: spec.scale,
                    packed: run(0, 0),
                    scales: run(scales_start, 1),
                    biases: run(biases_start, 2),
                })
            }
        }
    }

    fn check_len(&self, what: &str, len: usize) {
        assert!(
            len == self.cols,
            "{what} has {len} values but a row of this [{}, {}] {} matrix has {}",
            self.rows,
            self.cols,
            self.format,
            self.cols
        );
    }

    /// Dequantizes row `row` into `out` (`out.len() == cols`). Every format's value is computed
    /// in f32 exactly as documented in [`crate::format`] (affine: `q · scale + bias`, multiplied
    /// then added), so the result does not depend on the CPU's kernels.
    ///
    /// # Panics
    /// If `row >= rows` or `out.len() != cols`.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        self.check_len("the output row", out.len());
        kernels::dequantize(self.row(row), out);
    }

    /// Dequantizes the whole matrix into `out` (`out.len() == rows * cols`).
    ///
    /// # Panics
    /// If `out.len() != rows * cols`.
    pub fn dequantize(&self, out: &mut [f32]) {
        assert!(
            out.len() == self.rows * self.cols,
            "the output has {} values but this [{}, {}] matrix has {}",
            out.len(),
            self.rows,
            self.cols,
            self.rows * self.cols
        );
        for (r, out) in out.chunks_exact_mut(self.cols).enumerate() {
            kernels::dequantize(self.row(r), out);
        }
    }

    /// The dot product of row `row` with `x` (`x.len() == cols`), accumulated in f32 by the
    /// fastest kernel this CPU supports.
    ///
    /// # Panics
    /// If `row >= rows` or `x.len() != cols`.
    pub fn dot_row(&self, row: usize, x: &[f32]) -> f32 {
        self.check_len("the input vector", x.len());
        kernels::dot(self.row(row), x)
    }

    /// Prepares `x` (`x.len() == cols`) for [`QuantMatrix::dot_row_prepared`] on every row.
    ///
    /// # Panics
    /// If `x.len() != cols`.
    pub fn prepare(&self, x: &[f32]) -> PreparedInput {
        let mut prepared = PreparedInput::new();
        self.prepare_into(x, &mut prepared);
        prepared
    }

    /// Like [`QuantMatrix::prepare`], refilling `prepared` (reusing its buffers).
    ///
    /// # Panics
    /// If `x.len() != cols`.
    pub fn prepare_into(&self, x: &[f32], prepared: &mut PreparedInput) {
        self.check_len("the input vector", x.len());
        prepared.fill(x, self.format);
    }

    /// The dot product of row `row` with a prepared input, equal to
    /// [`QuantMatrix::dot_row`] with the same vector up to f32 rounding, and faster for the
    /// affine formats.
    ///
    /// # Panics
    /// If `row >= rows`, or `prepared` was prepared for a matrix with another format or column
    /// count.
    pub fn dot_row_prepared(&self, row: usize, prepared: &PreparedInput) -> f32 {
        self.check_len("the prepared input", prepared.len());
        assert!(
            prepared.format == self.format,
            "the input was prepared for a {} matrix, this matrix is {}",
            prepared.format,
            self.format
        );
        match self.row(row) {
            Row::Affine(a) => kernels::dot_affine_prepared(a, prepared),
            row => kernels::dot(row, &prepared.x),
        }
    }
}
