//! The error type of floe-format.

use std::path::PathBuf;

/// What can go wrong reading, writing or converting a checkpoint. Every variant names the file,
/// tensor or (layer, expert) concerned.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A checkpoint that does not agree with its manifest, or a malformed manifest.
    #[error("{path}: {message}")]
    Invalid {
        /// The file (manifest or data file) that is wrong.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A dense tensor whose bytes do not match their checksum.
    #[error("{path}: tensor '{tensor}' fails its checksum (expected {expected}, found {found})")]
    TensorChecksum {
        /// The data file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Checksum in the manifest.
        expected: String,
        /// Checksum of the bytes read.
        found: String,
    },
    /// An expert blob whose bytes do not match their checksum.
    #[error("{path}: expert {expert} of layer {layer} fails its checksum (expected {expected}, found {found})")]
    BlobChecksum {
        /// The data file.
        path: PathBuf,
        /// Layer index.
        layer: u32,
        /// Expert index.
        expert: u32,
        /// Checksum in the manifest.
        expected: String,
        /// Checksum of the bytes read.
        found: String,
    },
    /// A request for something the checkpoint does not have.
    #[error("{0}")]
    NotFound(String),
    /// A quantization error, with context.
    #[error("{context}: {source}")]
    Quant {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: floe_quant::QuantError,
    },
}
