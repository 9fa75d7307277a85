//! The CPU backend's tensor and weight types.

use bytes::Bytes;
use floe_quant::{QuantFormat, QuantMatrix};

/// An f32 `[rows, cols]` matrix in main memory, row-major.
#[derive(Debug)]
pub struct CpuTensor {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) data: Vec<f32>,
}

impl CpuTensor {
    pub(crate) fn new(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        debug_assert_eq!(data.len(), rows * cols);
        Self { rows, cols, data }
    }

    /// `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// The values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.data
    }

    /// Row `r`.
    pub(crate) fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// An immutable weight matrix: the checkpoint's bytes, kept zero-copy (the [`Bytes`] is usually
/// a slice of a memory map or of a streamed expert blob).
#[derive(Clone, Debug)]
pub struct CpuWeight {
    pub(crate) format: QuantFormat,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) bytes: Bytes,
}

impl CpuWeight {
    /// `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// The storage format.
    pub fn format(&self) -> QuantFormat {
        self.format
    }

    /// The stored bytes (the very buffer the weight was created from).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// A floe-quant view of the bytes (the shape was checked when the weight was created).
    pub(crate) fn matrix(&self) -> QuantMatrix<'_> {
        QuantMatrix::new(self.format, self.rows, self.cols, &self.bytes)
            .expect("weight shape and byte length were checked by CpuBackend::weight")
    }
}
