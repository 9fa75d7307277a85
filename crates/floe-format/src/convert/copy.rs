//! Streaming one source matrix into the writer, a bounded chunk at a time: copied byte for byte
//! when the stored format does not change, otherwise decoded to f32 and re-encoded or quantized
//! a chunk of rows at a time.

use floe_quant::QuantFormat;

use super::plan::{MatrixSource, Transform};
use super::safetensors::SourceSet;
use crate::{DenseTensorWriter, ExpertBlobWriter, FormatError};

/// Source bytes read per positioned read.
pub(crate) const CHUNK_BYTES: usize = 8 << 20;

/// Where converted bytes go: a dense tensor or one part of an expert blob.
pub(crate) trait Sink {
    /// The next `rows` rows, in the target format's storage of just those rows.
    fn rows(&mut self, rows: usize, bytes: &[u8]) -> Result<(), FormatError>;
    /// The next stored bytes in their final order.
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), FormatError>;
}

impl Sink for DenseTensorWriter<'_> {
    fn rows(&mut self, rows: usize, bytes: &[u8]) -> Result<(), FormatError> {
        self.write_rows(rows, bytes)
    }
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), FormatError> {
        self.write_bytes(bytes)
    }
}

/// One part of an expert blob as a [`Sink`].
pub(crate) struct PartSink<'b, 'w> {
    pub blob: &'b mut ExpertBlobWriter<'w>,
    pub part: &'static str,
}

impl Sink for PartSink<'_, '_> {
    fn rows(&mut self, rows: usize, bytes: &[u8]) -> Result<(), FormatError> {
        self.blob.write_part_rows(self.part, rows, bytes)
    }
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), FormatError> {
        self.blob.write_part_bytes(self.part, bytes)
    }
}

/// Reusable buffers, so a conversion allocates them once.
#[derive(Default)]
pub(crate) struct Scratch {
    read: Vec<u8>,
    values: Vec<f32>,
    out: Vec<u8>,
}

/// Streams `source` into `sink` stored as `target`, applying `transform`; calls `progress` with
/// the number of source bytes after each read. `what` names the tensor in errors.
#[allow(clippy::too_many_arguments)]
pub(crate) fn copy_matrix(
    set: &SourceSet,
    source: &MatrixSource,
    target: QuantFormat,
    transform: Transform,
    what: &str,
    sink: &mut dyn Sink,
    scratch: &mut Scratch,
    progress: &mut dyn FnMut(u64),
) -> Result<(), FormatError> {
    if source.format == target && transform == Transform::None {
        for plane in &source.planes {
            let mut done = 0u64;
            while done < plane.length {
                let n = (plane.length - done).min(CHUNK_BYTES as u64) as usize;
                scratch.read.resize(n, 0);
                set.read(&plane.tensor, plane.offset + done, &mut scratch.read)?;
                sink.bytes(&scratch.read)?;
                done += n as u64;
                progress(n as u64);
            }
        }
        return Ok(());
    }
    assert!(
        !source.format.is_quantized() && source.planes.len() == 1,
        "the plan only converts float sources"
    );
    let plane = &source.planes[0];
    let row_bytes = source.cols * source.format.block_bytes();
    let rows_per_chunk = (CHUNK_BYTES / row_bytes.max(1)).max(1);
    let mut row = 0;
    while row < source.rows {
        let n = rows_per_chunk.min(source.rows - row);
        scratch.read.resize(n * row_bytes, 0);
        set.read(
            &plane.tensor,
            plane.offset + (row * row_bytes) as u64,
            &mut scratch.read,
        )?;
        decode(source.format, &scratch.read, &mut scratch.values);
        if transform == Transform::SubtractOne {
            scratch.values.iter_mut().for_each(|v| *v -= 1.0);
        }
        scratch.out.clear();
        floe_quant::quantize_into(target, n, source.cols, &scratch.values, &mut scratch.out)
            .map_err(|e| {
                FormatError::quant(
                    format!("{what}: storing rows {row}..{} as {target}", row + n),
                    e,
                )
            })?;
        sink.rows(n, &scratch.out)?;
        row += n;
        progress((n * row_bytes) as u64);
    }
    Ok(())
}

/// Decodes little-endian f32/f16/bf16 `bytes` into `out` (replacing its contents).
fn decode(format: QuantFormat, bytes: &[u8], out: &mut Vec<f32>) {
    out.clear();
    match format {
        QuantFormat::F32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        QuantFormat::F16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()),
        ),
        QuantFormat::Bf16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)),
        ),
        other => unreachable!("decode of {other}: the plan only converts float sources"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_float_type() {
        let mut out = Vec::new();
        decode(QuantFormat::F32, &1.5f32.to_le_bytes(), &mut out);
        assert_eq!(out, [1.5]);
        decode(
            QuantFormat::F16,
            &half::f16::from_f32(-2.0).to_bits().to_le_bytes(),
            &mut out,
        );
        assert_eq!(out, [-2.0]);
        decode(
            QuantFormat::Bf16,
            &half::bf16::from_f32(0.75).to_bits().to_le_bytes(),
            &mut out,
        );
        assert_eq!(out, [0.75]);
    }
}
