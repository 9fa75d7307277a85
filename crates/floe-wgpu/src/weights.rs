//! Uploading weights verbatim, split into row ranges that each fit one storage binding.

use bytes::Bytes;
use floe_compute::{check, ComputeError, WeightData};
use floe_quant::QuantFormat;

use crate::context::Gpu;
use crate::staging::StagingRing;
use crate::tensor::{WeightChunk, WgpuWeight};

/// Kernels index weight buffers with u32 byte offsets, so no chunk may reach 4 GiB.
pub(crate) const MAX_CHUNK: u64 = (1 << 32) - 256;
/// Slack after a chunk's bytes: the Q8_0 kernel reads the whole word holding a block's last byte.
pub(crate) const SLACK: u64 = 16;

/// Rows per chunk for a `[rows, cols]` weight in `format`, or why it cannot be stored.
pub(crate) fn rows_per_chunk(
    gpu: &Gpu,
    format: QuantFormat,
    rows: usize,
    cols: usize,
) -> Result<usize, ComputeError> {
    let row_bytes = format.matrix_bytes(1, cols)? as u64;
    let limit = chunk_limit(gpu);
    let per_chunk = (limit / row_bytes) as usize;
    if per_chunk == 0 {
        return Err(ComputeError::Unsupported(format!(
            "a [{rows}, {cols}] {format} weight has {row_bytes}-byte rows, more than the {limit} bytes one storage binding of {} can hold",
            gpu.info.name
        )));
    }
    Ok(per_chunk.min(rows))
}

/// The bytes of rows `r0 .. r1` of a stored matrix, as a stored matrix of those rows, and the
/// offsets of its scale and bias planes.
fn chunk_bytes(
    format: QuantFormat,
    rows: usize,
    cols: usize,
    bytes: &Bytes,
    r0: usize,
    r1: usize,
) -> (Vec<&[u8]>, u32, u32) {
    let planes = format.row_plane_bytes(cols);
    let mut parts = Vec::with_capacity(planes.len());
    let mut plane_start = 0;
    let mut offsets = Vec::with_capacity(planes.len());
    let mut within = 0;
    for &p in &planes {
        offsets.push(within as u32);
        parts.push(&bytes[plane_start + r0 * p..plane_start + r1 * p]);
        within += (r1 - r0) * p;
        plane_start += rows * p;
    }
    let (scale, bias) = if offsets.len() == 3 {
        (offsets[1], offsets[2])
    } else {
        (0, 0)
    };
    (parts, scale, bias)
}

/// Uploads `data` verbatim, through the staging ring.
pub(crate) fn upload(
    gpu: &Gpu,
    staging: &StagingRing,
    data: WeightData,
) -> Result<WgpuWeight, ComputeError> {
    let [rows, cols] = check::weight(&data)?;
    let per_chunk = rows_per_chunk(gpu, data.format, rows, cols)?;
    let mut chunks = Vec::new();
    let mut r0 = 0;
    while r0 < rows {
        let r1 = (r0 + per_chunk).min(rows);
        let (parts, scale_offset, bias_offset) =
            chunk_bytes(data.format, rows, cols, &data.bytes, r0, r1);
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let size = (len as u64 + SLACK).next_multiple_of(16);
        let buffer = weight_buffer(gpu, "floe weight", size)?;
        staging.write(&buffer, &parts, size)?;
        chunks.push(WeightChunk {
            row0: r0,
            rows: r1 - r0,
            buffer,
            scale_offset,
            bias_offset,
        });
        r0 = r1;
    }
    Ok(WgpuWeight {
        format: data.format,
        rows,
        cols,
        chunks: chunks.into(),
    })
}

/// A new storage buffer of `size` bytes for weights (a weight's chunk, a stack's chunk), refused
/// with the numbers when it exceeds the device's buffer limit.
pub(crate) fn weight_buffer(
    gpu: &Gpu,
    label: &'static str,
    size: u64,
) -> Result<wgpu::Buffer, ComputeError> {
    if size > gpu.caps.max_buffer {
        return Err(ComputeError::Unsupported(format!(
            "{label}: a {size}-byte buffer exceeds the {}-byte buffer limit of {}",
            gpu.caps.max_buffer, gpu.info.name
        )));
    }
    let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    gpu.check()?;
    Ok(buffer)
}

/// The most bytes of weights one buffer holds: a storage binding, the u32 offsets of the kernels
/// (`MAX_CHUNK`) and `max_weight_chunk_bytes`, less the slack after each buffer.
pub(crate) fn chunk_limit(gpu: &Gpu) -> u64 {
    gpu.caps
        .max_binding
        .min(MAX_CHUNK)
        .min(gpu.caps.max_weight_chunk.max(SLACK + 1))
        - SLACK
}
