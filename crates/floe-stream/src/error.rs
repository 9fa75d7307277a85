//! The error type of floe-stream's configuration, construction and tools. Errors of a running
//! [`ExpertSource::fetch`](floe_format::ExpertSource::fetch) are [`FormatError`]s, as the trait
//! requires; they name the layer and expert.

use std::path::PathBuf;

use floe_format::FormatError;

/// What can go wrong configuring or building a streaming source, reading a trace, or writing a
/// synthetic checkpoint. Every variant says which argument, file or line is wrong.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A configuration value that cannot work (names the setting and what is wrong).
    #[error("{0}")]
    Config(String),
    /// A size that does not parse (e.g. `--cache-budget 4GB`).
    #[error("cannot parse size '{input}': {message}")]
    Size {
        /// The text given.
        input: String,
        /// What is wrong with it.
        message: String,
    },
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An error from the checkpoint (opening it, looking up a blob, reading or verifying one).
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A routing trace that does not parse or does not fit the checkpoint.
    #[error("{path}:{line}: {message}")]
    Trace {
        /// The trace file (or `<memory>`).
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl StreamError {
    /// A [`StreamError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StreamError::Io {
            path: path.into(),
            source,
        }
    }
}
