//! Opening and reading a checkpoint.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use floe_quant::QuantFormat;

use crate::manifest::{ExpertLayer, Manifest};
use crate::FormatError;

/// How to open a checkpoint.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Verify checksums of dense tensors when first viewed and of expert blobs when read
    /// (default true; benchmarks may turn it off).
    pub verify_checksums: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self { verify_checksums: true }
    }
}

/// An open checkpoint: the parsed manifest, the memory-mapped dense file.
pub struct Checkpoint {
    _private: (),
}

/// A dense tensor: its format, shape, and bytes that share the mmap (cheap to clone, zero-copy).
#[derive(Clone, Debug)]
pub struct DenseView {
    /// Tensor name.
    pub name: String,
    /// Logical shape.
    pub shape: Vec<usize>,
    /// Storage format.
    pub format: QuantFormat,
    /// The stored bytes (a slice of the mmap'd dense file).
    pub bytes: Bytes,
}

/// Where an expert blob lives, for a reader that does its own I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobLocation {
    /// Absolute path of the layer's data file.
    pub path: PathBuf,
    /// Byte offset (a multiple of 4096).
    pub offset: u64,
    /// Byte length.
    pub length: u64,
    /// Expected xxh3-64 of the bytes.
    pub checksum: u64,
}

/// One projection of an expert, cut from its blob without copying.
#[derive(Clone, Debug)]
pub struct ExpertView {
    /// Output features.
    pub rows: usize,
    /// Input features.
    pub cols: usize,
    /// Storage format.
    pub format: QuantFormat,
    /// The stored bytes.
    pub bytes: Bytes,
}

impl Checkpoint {
    /// Opens `dir` with default options (checksums verified).
    pub fn open(dir: &Path) -> Result<Self, FormatError> {
        Self::open_with(dir, OpenOptions::default())
    }

    /// Opens `dir`: parses and validates the manifest, checks every data file's length and header
    /// against it, and maps the dense file.
    pub fn open_with(dir: &Path, options: OpenOptions) -> Result<Self, FormatError> {
        let _ = (dir, options);
        todo!("floe-format helper implements this")
    }

    /// The checkpoint directory.
    pub fn dir(&self) -> &Path {
        todo!()
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        todo!()
    }

    /// The model's HF config, verbatim.
    pub fn config(&self) -> &serde_json::Value {
        todo!()
    }

    /// The architecture (`model_type`).
    pub fn arch(&self) -> &str {
        todo!()
    }

    /// Whether checksums are verified.
    pub fn verifies_checksums(&self) -> bool {
        todo!()
    }

    /// A dense tensor by name (checksum verified on first view when enabled).
    pub fn dense(&self, name: &str) -> Result<DenseView, FormatError> {
        let _ = name;
        todo!()
    }

    /// Whether a dense tensor of that name exists.
    pub fn has_dense(&self, name: &str) -> bool {
        let _ = name;
        todo!()
    }

    /// The expert layout of decoder layer `layer`, or `None` if it has no routed experts.
    pub fn expert_layer(&self, layer: u32) -> Option<&ExpertLayer> {
        let _ = layer;
        todo!()
    }

    /// Where the blob of (`layer`, `expert`) is.
    pub fn blob_location(&self, layer: u32, expert: u32) -> Result<BlobLocation, FormatError> {
        let _ = (layer, expert);
        todo!()
    }

    /// Checks `bytes` against the checksum of (`layer`, `expert`) if verification is on.
    pub fn verify_blob(&self, layer: u32, expert: u32, bytes: &[u8]) -> Result<(), FormatError> {
        let _ = (layer, expert, bytes);
        todo!()
    }

    /// Cuts a blob of `layer` into its parts (`gate`, `up`, `down`), zero-copy.
    pub fn split_blob(&self, layer: u32, blob: &Bytes) -> Result<Vec<(String, ExpertView)>, FormatError> {
        let _ = (layer, blob);
        todo!()
    }

    /// Path of an extra file (e.g. `tokenizer.json`) if the checkpoint has it.
    pub fn extra_file(&self, name: &str) -> Option<PathBuf> {
        let _ = name;
        todo!()
    }
}
