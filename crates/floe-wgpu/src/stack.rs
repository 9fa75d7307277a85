//! Weight stacks: a layer's routed experts of one projection, uploaded back to back so that a
//! kernel finds entry `id` at byte `(id − first) · stride` of the chunk holding it
//! ([`floe_compute::Backend::matmul_selected`]).

use std::sync::Arc;

use floe_compute::{check, ComputeError, WeightData};
use floe_quant::QuantFormat;

use crate::context::Gpu;
use crate::staging::StagingRing;
use crate::weights::{chunk_limit, weight_buffer, SLACK};

/// A run of whole entries of a stack in one device buffer: entry `first + i` at byte
/// `i · stride`.
pub(crate) struct StackChunk {
    /// The first entry in this chunk.
    pub first: usize,
    /// Entries in this chunk.
    pub count: usize,
    pub buffer: wgpu::Buffer,
}

/// A layer's experts for one projection (gate, up or down) resident on the device, for
/// [`floe_compute::Backend::matmul_selected`].
///
/// Every entry is stored exactly as floe-quant stores the matrix (for affine formats: its
/// packed, scale and bias planes one after the other), padded with zeros to `stride` bytes, a
/// multiple of 16, so entry `i` starts at byte `i · stride`. A stack larger than one storage
/// binding (or 4 GiB) is split into chunks of whole entries. Clones share the device buffers.
#[derive(Clone)]
pub struct WgpuWeightStack {
    pub(crate) format: QuantFormat,
    pub(crate) entries: usize,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    /// Bytes from one entry to the next (a multiple of 16).
    pub(crate) stride: u64,
    /// Byte offsets of the scale and bias planes within an entry (affine formats; 0 otherwise).
    pub(crate) scale_offset: u32,
    pub(crate) bias_offset: u32,
    pub(crate) chunks: Arc<[StackChunk]>,
}

impl WgpuWeightStack {
    /// The storage format of every entry.
    pub fn format(&self) -> QuantFormat {
        self.format
    }

    /// How many device buffers (entry ranges) hold the stack.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Bytes from one entry to the next in device memory (the entry's size rounded up to 16).
    pub fn stride_bytes(&self) -> u64 {
        self.stride
    }
}

/// Zeros that pad an entry to its stride (less than 16 bytes are ever needed).
const PAD: [u8; 16] = [0; 16];

/// Uploads `parts` as one stack through the staging ring.
pub(crate) fn upload(
    gpu: &Gpu,
    staging: &StagingRing,
    parts: Vec<WeightData>,
) -> Result<WgpuWeightStack, ComputeError> {
    let [entries, rows, cols] = check::weight_stack(&parts)?;
    let format = parts[0].format;
    let entry_bytes = parts[0].bytes.len() as u64;
    let stride = entry_bytes.next_multiple_of(16);
    let limit = chunk_limit(gpu);
    let per_chunk = (limit / stride) as usize;
    if per_chunk == 0 {
        return Err(ComputeError::Unsupported(format!(
            "weight_stack: one [{rows}, {cols}] {format} entry takes {stride} bytes, more than the {limit} bytes one storage binding of {} can hold",
            gpu.info.name
        )));
    }
    let planes = format.row_plane_bytes(cols);
    let (scale_offset, bias_offset) = if planes.len() == 3 {
        let scale = (rows * planes[0]) as u32;
        (scale, scale + (rows * planes[1]) as u32)
    } else {
        (0, 0)
    };
    let pad = (stride - entry_bytes) as usize;
    let mut chunks = Vec::new();
    let mut first = 0;
    while first < entries {
        let count = per_chunk.min(entries - first);
        let size = count as u64 * stride + SLACK;
        let buffer = weight_buffer(gpu, "weight_stack", size)?;
        let mut pieces: Vec<&[u8]> = Vec::with_capacity(2 * count);
        for part in &parts[first..first + count] {
            pieces.push(&part.bytes);
            pieces.push(&PAD[..pad]);
        }
        staging.write(&buffer, &pieces, size)?;
        chunks.push(StackChunk {
            first,
            count,
            buffer,
        });
        first += count;
    }
    Ok(WgpuWeightStack {
        format,
        entries,
        rows,
        cols,
        stride,
        scale_offset,
        bias_offset,
        chunks: chunks.into(),
    })
}
