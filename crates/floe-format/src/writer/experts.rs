//! Writing one MoE layer's expert file: its layout and its blobs.

use std::fs::File;
use std::path::{Path, PathBuf};

use floe_quant::QuantFormat;

use super::fill::MatrixFill;
use super::region::Region;
use super::CheckpointWriter;
use crate::layout::{
    align_up, blob_stride, checksum_hex, expert_file_name, tensor_bytes, DataHeader, DataKind,
    DATA_HEADER_LEN, PART_ALIGNMENT,
};
use crate::manifest::{ExpertBlob, ExpertLayer, ExpertPart};
use crate::FormatError;

/// One projection of every expert blob of a layer, as given to
/// [`CheckpointWriter::begin_expert_layer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpertPartSpec {
    /// `gate`, `up` or `down`.
    pub name: String,
    /// Output features.
    pub rows: usize,
    /// Input features.
    pub cols: usize,
    /// Storage format.
    pub format: QuantFormat,
}

impl ExpertPartSpec {
    /// The three parts of a SwiGLU expert with intermediate size `intermediate` and hidden size
    /// `hidden`: `gate` and `up` `[intermediate, hidden]`, `down` `[hidden, intermediate]`, all in
    /// `format`.
    pub fn swiglu(intermediate: usize, hidden: usize, format: QuantFormat) -> Vec<ExpertPartSpec> {
        let part = |name: &str, rows, cols| ExpertPartSpec {
            name: name.into(),
            rows,
            cols,
            format,
        };
        vec![
            part("gate", intermediate, hidden),
            part("up", intermediate, hidden),
            part("down", hidden, intermediate),
        ]
    }
}

/// A begun expert layer: its file, layout and which blobs are written.
pub(super) struct LayerState {
    pub path: PathBuf,
    pub file: File,
    pub layout: ExpertLayer,
    pub file_length: u64,
    written: Vec<bool>,
}

impl LayerState {
    pub(super) fn create(
        path: &Path,
        id: [u8; 16],
        layer: u32,
        num_experts: u32,
        specs: &[ExpertPartSpec],
    ) -> Result<Self, FormatError> {
        let bad = |m: String| FormatError::invalid(path, format!("expert layer {layer}: {m}"));
        if num_experts == 0 {
            return Err(bad("needs at least one expert".into()));
        }
        let mut parts = Vec::with_capacity(specs.len());
        let mut at = 0u64;
        for spec in specs {
            let length = tensor_bytes(spec.format, &[spec.rows as u64, spec.cols as u64])
                .map_err(|e| bad(format!("part '{}': {e}", spec.name)))?;
            at = align_up(at, PART_ALIGNMENT);
            parts.push(ExpertPart {
                name: spec.name.clone(),
                rows: spec.rows as u64,
                cols: spec.cols as u64,
                format: spec.format,
                offset: at,
                length,
            });
            at += length;
        }
        let blob_length = at;
        let stride = blob_stride(blob_length);
        let blobs = (0..num_experts as u64)
            .map(|e| ExpertBlob {
                offset: DATA_HEADER_LEN + e * stride,
                checksum: String::new(),
            })
            .collect();
        let layout = ExpertLayer {
            layer,
            file: expert_file_name(layer),
            blob_length,
            parts,
            blobs,
        };
        crate::validate::check_parts(&layout).map_err(bad)?;
        let file = super::create_data_file(
            path,
            DataHeader {
                kind: DataKind::Experts,
                checkpoint_id: id,
                layer,
            },
        )?;
        let file_length = DATA_HEADER_LEN + num_experts as u64 * stride;
        file.set_len(file_length)
            .map_err(|e| FormatError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            layout,
            file_length,
            written: vec![false; num_experts as usize],
        })
    }

    pub(super) fn check_unwritten(&self, layer: u32, expert: u32) -> Result<(), FormatError> {
        match self.written.get(expert as usize) {
            None => Err(FormatError::invalid(
                &self.path,
                format!(
                    "expert {expert} of layer {layer}: the layer has {} experts",
                    self.written.len()
                ),
            )),
            Some(true) => Err(FormatError::invalid(
                &self.path,
                format!("expert {expert} of layer {layer} is written twice"),
            )),
            Some(false) => Ok(()),
        }
    }

    pub(super) fn check_complete(&self, layer: u32) -> Result<(), FormatError> {
        match self.written.iter().position(|w| !w) {
            Some(missing) => Err(FormatError::invalid(
                &self.path,
                format!("expert {missing} of layer {layer} was never written"),
            )),
            None => Ok(()),
        }
    }

    pub(super) fn write_blob(
        &mut self,
        layer: u32,
        expert: u32,
        blob: &[u8],
    ) -> Result<(), FormatError> {
        self.check_unwritten(layer, expert)?;
        let bad = |m: String| {
            FormatError::invalid(&self.path, format!("expert {expert} of layer {layer}: {m}"))
        };
        if blob.len() as u64 != self.layout.blob_length {
            return Err(bad(format!(
                "blob is {} bytes, the layout needs {}",
                blob.len(),
                self.layout.blob_length
            )));
        }
        let mut at = 0u64;
        for part in &self.layout.parts {
            if blob[at as usize..part.offset as usize]
                .iter()
                .any(|&b| b != 0)
            {
                return Err(bad(format!(
                    "padding before part '{}' is not zero",
                    part.name
                )));
            }
            at = part.offset + part.length;
        }
        let e = expert as usize;
        let mut region = Region::new(self.layout.blobs[e].offset, self.layout.blob_length);
        region.write(&self.file, &self.path, 0, blob)?;
        self.record(expert, region.finish(&self.file, &self.path)?);
        Ok(())
    }

    fn record(&mut self, expert: u32, checksum: u64) {
        self.layout.blobs[expert as usize].checksum = checksum_hex(checksum);
        self.written[expert as usize] = true;
    }
}

/// Writes one expert blob begun with [`CheckpointWriter::begin_expert`], part by part, each part
/// either as chunks of whole rows ([`write_part_rows`](Self::write_part_rows)) or as its stored
/// bytes in order ([`write_part_bytes`](Self::write_part_bytes)); then
/// [`finish`](Self::finish).
pub struct ExpertBlobWriter<'w> {
    writer: &'w mut CheckpointWriter,
    layer: u32,
    expert: u32,
    region: Region,
    fills: Vec<MatrixFill>,
}

impl<'w> ExpertBlobWriter<'w> {
    pub(super) fn new(writer: &'w mut CheckpointWriter, layer: u32, expert: u32) -> Self {
        let layout = &writer.layers[&layer].layout;
        let region = Region::new(layout.blobs[expert as usize].offset, layout.blob_length);
        let fills = layout
            .parts
            .iter()
            .map(|p| MatrixFill::new(p.format, p.rows as usize, p.cols as usize))
            .collect();
        Self {
            writer,
            layer,
            expert,
            region,
            fills,
        }
    }

    /// Writes the next `rows` rows of part `part` (`gate`, `up` or `down`); `bytes` is their
    /// storage in the part's format, planes of just these rows one after the other.
    pub fn write_part_rows(
        &mut self,
        part: &str,
        rows: usize,
        bytes: &[u8],
    ) -> Result<(), FormatError> {
        let index = self.part_index(part)?;
        let placements = self.fills[index]
            .rows(rows, bytes.len())
            .map_err(|e| self.error(part, e))?;
        let base = self.state().layout.parts[index].offset;
        for p in placements {
            self.write(base + p.offset, &bytes[p.range])?;
        }
        Ok(())
    }

    /// Writes the next `bytes` of part `part`'s storage in its final order.
    pub fn write_part_bytes(&mut self, part: &str, bytes: &[u8]) -> Result<(), FormatError> {
        let index = self.part_index(part)?;
        let at = self.fills[index]
            .bytes(bytes.len())
            .map_err(|e| self.error(part, e))?;
        let base = self.state().layout.parts[index].offset;
        self.write(base + at, bytes)
    }

    /// Checks that every part is complete, computes the blob's checksum and records it.
    pub fn finish(mut self) -> Result<(), FormatError> {
        let names: Vec<String> = self
            .state()
            .layout
            .parts
            .iter()
            .map(|p| p.name.clone())
            .collect();
        for (fill, name) in self.fills.iter().zip(&names) {
            if !fill.is_complete() {
                return Err(self.error(
                    name,
                    format!("incomplete at finish: {} written", fill.progress()),
                ));
            }
        }
        self.pad_gaps();
        let state = self
            .writer
            .layers
            .get_mut(&self.layer)
            .expect("layer exists");
        let checksum = self.region.finish(&state.file, &state.path)?;
        state.record(self.expert, checksum);
        self.writer.unfinished = None;
        Ok(())
    }

    fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), FormatError> {
        self.pad_gaps();
        let state = &self.writer.layers[&self.layer];
        self.region.write(&state.file, &state.path, offset, bytes)
    }

    /// Lets in-order hashing run across the zero padding between parts.
    fn pad_gaps(&mut self) {
        let mut end = 0u64;
        for part in &self.writer.layers[&self.layer].layout.parts {
            if part.offset > end {
                self.region.pad(end, part.offset - end);
            }
            end = part.offset + part.length;
        }
    }

    fn state(&self) -> &LayerState {
        &self.writer.layers[&self.layer]
    }

    fn part_index(&self, part: &str) -> Result<usize, FormatError> {
        self.state()
            .layout
            .parts
            .iter()
            .position(|p| p.name == part)
            .ok_or_else(|| self.error(part, "the layer has no such part".into()))
    }

    fn error(&self, part: &str, message: String) -> FormatError {
        FormatError::invalid(
            &self.state().path,
            format!(
                "expert {} of layer {}, part '{part}': {message}",
                self.expert, self.layer
            ),
        )
    }
}
