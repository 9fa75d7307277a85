//! Writing one dense tensor a chunk at a time.

use floe_quant::QuantFormat;

use super::fill::MatrixFill;
use super::region::Region;
use super::CheckpointWriter;
use crate::layout::{checksum_hex, DENSE_FILE};
use crate::manifest::DenseTensor;
use crate::FormatError;

/// Writes one dense tensor begun with [`CheckpointWriter::begin_dense`], either as chunks of
/// whole rows ([`write_rows`](Self::write_rows)) or as its stored bytes in order
/// ([`write_bytes`](Self::write_bytes)), then [`finish`](Self::finish). A tensor of more than two
/// dimensions has rows of its last dimension.
pub struct DenseTensorWriter<'w> {
    writer: &'w mut CheckpointWriter,
    name: String,
    shape: Vec<u64>,
    format: QuantFormat,
    offset: u64,
    region: Region,
    fill: MatrixFill,
}

impl<'w> DenseTensorWriter<'w> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        writer: &'w mut CheckpointWriter,
        name: &str,
        shape: Vec<u64>,
        format: QuantFormat,
        offset: u64,
        length: u64,
        rows: usize,
        cols: usize,
    ) -> Self {
        let fill = MatrixFill::new(format, rows, cols);
        debug_assert_eq!(fill.total(), length);
        Self {
            writer,
            name: name.to_string(),
            shape,
            format,
            offset,
            region: Region::new(offset, length),
            fill,
        }
    }

    /// Writes the next `rows` rows; `bytes` is their storage in the tensor's format (for a
    /// multi-plane format such as the affine ones, the planes of just these rows one after the
    /// other, as `floe_quant::quantize` of a `[rows, cols]` matrix returns them). Each plane's
    /// part is placed at its offset in the tensor.
    pub fn write_rows(&mut self, rows: usize, bytes: &[u8]) -> Result<(), FormatError> {
        let placements = self
            .fill
            .rows(rows, bytes.len())
            .map_err(|e| self.error(e))?;
        for p in placements {
            self.region.write(
                &self.writer.dense_file,
                &self.writer.dense_path,
                p.offset,
                &bytes[p.range],
            )?;
        }
        Ok(())
    }

    /// Writes the next `bytes` of the tensor's storage in its final order.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), FormatError> {
        let at = self.fill.bytes(bytes.len()).map_err(|e| self.error(e))?;
        self.region
            .write(&self.writer.dense_file, &self.writer.dense_path, at, bytes)
    }

    /// Checks that every byte was written, computes the checksum and records the tensor.
    pub fn finish(self) -> Result<(), FormatError> {
        if !self.fill.is_complete() {
            let progress = self.fill.progress();
            return Err(self.error(format!("incomplete at finish: {progress} written")));
        }
        let checksum = self
            .region
            .finish(&self.writer.dense_file, &self.writer.dense_path)?;
        let length = self.fill.total();
        self.writer.dense.push(DenseTensor {
            name: self.name,
            shape: self.shape,
            format: self.format,
            file: DENSE_FILE.into(),
            offset: self.offset,
            length,
            checksum: checksum_hex(checksum),
        });
        self.writer.unfinished = None;
        Ok(())
    }

    fn error(&self, message: String) -> FormatError {
        FormatError::invalid(
            &self.writer.dense_path,
            format!("dense tensor '{}': {message}", self.name),
        )
    }
}
