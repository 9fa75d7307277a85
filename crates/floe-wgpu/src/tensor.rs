//! The backend's tensor and weight types.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use floe_quant::QuantFormat;

use crate::pool::PooledBuffer;

/// An f32 `[rows, cols]` activation matrix in device memory (a pooled buffer).
pub struct WgpuTensor {
    pub(crate) buffer: PooledBuffer,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    /// Names these contents: unique per tensor and renewed whenever an operation binds it for
    /// writing ([`WgpuTensor::buf_mut`]), so a value derived from it (its int8 quantization)
    /// can be reused exactly while this stays the same.
    pub(crate) version: u64,
}

/// A version no tensor has had before.
pub(crate) fn next_version() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl WgpuTensor {
    /// The buffer, for an operation that writes into this tensor in place: the contents get a
    /// new version.
    pub(crate) fn buf_mut(&mut self) -> &wgpu::Buffer {
        self.version = next_version();
        self.buffer.buffer()
    }

    pub(crate) fn buf(&self) -> &wgpu::Buffer {
        self.buffer.buffer()
    }

    pub(crate) fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    pub(crate) fn bytes(&self) -> u64 {
        (self.rows * self.cols * 4) as u64
    }
}

/// A run of whole rows of a weight in one device buffer, laid out exactly like a stored matrix
/// of those rows (for affine formats: its packed, scale and bias planes one after the other).
pub(crate) struct WeightChunk {
    /// First row of the weight in this chunk.
    pub row0: usize,
    /// Rows in this chunk.
    pub rows: usize,
    pub buffer: wgpu::Buffer,
    /// Byte offsets of the scale and bias planes in `buffer` (affine formats; 0 otherwise).
    pub scale_offset: u32,
    pub bias_offset: u32,
}

/// An immutable weight matrix in device memory, its bytes exactly as floe-quant stores them,
/// split into row ranges when it is larger than one storage binding may be. Clones share the
/// device buffers.
#[derive(Clone)]
pub struct WgpuWeight {
    pub(crate) format: QuantFormat,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) chunks: Arc<[WeightChunk]>,
}

impl WgpuWeight {
    /// The storage format.
    pub fn format(&self) -> QuantFormat {
        self.format
    }

    /// How many device buffers (row ranges) hold the weight.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }
}
