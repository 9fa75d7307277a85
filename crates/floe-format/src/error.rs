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
    /// The output directory of a writer or converter already exists and replacing it was not
    /// asked for.
    #[error("{path}: already exists (pass --force / `force` to replace it)")]
    OutputExists {
        /// The output directory.
        path: PathBuf,
    },
    /// Reading an expert blob failed (an I/O error or a file shorter than the manifest says).
    #[error("{path}: reading expert {expert} of layer {layer}: {source}")]
    ExpertRead {
        /// The data file.
        path: PathBuf,
        /// Layer index.
        layer: u32,
        /// Expert index.
        expert: u32,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A quantization error, with context.
    #[error("{context}: {source}")]
    Quant {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: floe_quant::QuantError,
    },
}

impl FormatError {
    /// An [`FormatError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FormatError::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`FormatError::Invalid`] for `path`.
    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        FormatError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A [`FormatError::Quant`] with `context`.
    pub fn quant(context: impl Into<String>, source: floe_quant::QuantError) -> Self {
        FormatError::Quant {
            context: context.into(),
            source,
        }
    }
}
