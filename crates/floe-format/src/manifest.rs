//! The manifest: `manifest.json` at the root of a checkpoint directory, the one file that says
//! what every byte of the data files is. The byte-level specification is `docs/format.md`.

use floe_quant::QuantFormat;
use serde::{Deserialize, Serialize};

/// The value of [`Manifest::magic`].
pub const MANIFEST_MAGIC: &str = "floe-checkpoint";
/// The manifest version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Alignment of every dense tensor and every expert blob in the data files, in bytes.
pub const ALIGNMENT: u64 = 4096;
/// The checksum algorithm named in [`Manifest::checksum`].
pub const CHECKSUM_XXH3_64: &str = "xxh3-64";

/// The whole manifest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always [`MANIFEST_MAGIC`].
    pub magic: String,
    /// The format version, [`FORMAT_VERSION`].
    pub format_version: u32,
    /// 32 lowercase hex digits, random per conversion; repeated in every data file's header so a
    /// data file from another checkpoint is detected.
    pub checkpoint_id: String,
    /// The architecture, HF's `model_type` of the text model (e.g. `qwen3_moe`).
    pub arch: String,
    /// The model's HF `config.json`, verbatim.
    pub config: serde_json::Value,
    /// Checksum algorithm of every `checksum` field: [`CHECKSUM_XXH3_64`].
    pub checksum: String,
    /// Files copied from the source next to the manifest (tokenizer files, generation config).
    pub extra_files: Vec<ExtraFile>,
    /// The data files, with their exact lengths.
    pub data_files: Vec<DataFile>,
    /// Every dense (non-expert) tensor.
    pub dense: Vec<DenseTensor>,
    /// Every MoE layer's experts.
    pub expert_layers: Vec<ExpertLayer>,
    /// How the checkpoint was made (converter version, source, requested formats): informative.
    pub provenance: serde_json::Value,
}

/// A file copied verbatim from the source checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExtraFile {
    /// File name relative to the checkpoint directory (e.g. `tokenizer.json`).
    pub name: String,
    /// Its length in bytes.
    pub length: u64,
    /// Checksum of its bytes, 16 lowercase hex digits.
    pub checksum: String,
}

/// A data file (dense region or one layer's experts).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DataFile {
    /// File name relative to the checkpoint directory.
    pub name: String,
    /// Its exact length in bytes, header included.
    pub length: u64,
}

/// One dense tensor in the dense region.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DenseTensor {
    /// The tensor's name (HF name, text-model prefix normalised to `model.`).
    pub name: String,
    /// Logical shape (outermost first); a quantized matrix is `[rows, cols]` of logical values.
    pub shape: Vec<u64>,
    /// Storage format.
    pub format: QuantFormat,
    /// Data file holding it.
    pub file: String,
    /// Byte offset in that file, a multiple of [`ALIGNMENT`].
    pub offset: u64,
    /// Byte length.
    pub length: u64,
    /// Checksum of the bytes, 16 lowercase hex digits.
    pub checksum: String,
}

/// One projection inside an expert blob.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExpertPart {
    /// `gate`, `up` or `down`.
    pub name: String,
    /// Output features (rows).
    pub rows: u64,
    /// Input features (columns).
    pub cols: u64,
    /// Storage format.
    pub format: QuantFormat,
    /// Offset from the start of the blob, a multiple of 64.
    pub offset: u64,
    /// Byte length (`format.matrix_bytes(rows, cols)`).
    pub length: u64,
}

/// The experts of one MoE layer: one file, one blob per expert, all of the same layout.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExpertLayer {
    /// Decoder layer index.
    pub layer: u32,
    /// Data file holding the blobs.
    pub file: String,
    /// Bytes of one blob (the sum of its parts with their padding).
    pub blob_length: u64,
    /// The parts of every blob of this layer, by offset.
    pub parts: Vec<ExpertPart>,
    /// Every expert's blob, indexed by expert id.
    pub blobs: Vec<ExpertBlob>,
}

/// Where one expert's blob is.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExpertBlob {
    /// Byte offset in the layer's file, a multiple of [`ALIGNMENT`].
    pub offset: u64,
    /// Checksum of the blob's `blob_length` bytes, 16 lowercase hex digits.
    pub checksum: String,
}
