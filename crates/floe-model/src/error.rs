//! The error type of floe-model.

use std::path::PathBuf;

/// What can go wrong loading or running a model, tokenizing, or generating. Every variant names
/// the file, field, tensor or argument concerned.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A `config.json` field that is missing, of the wrong type, or inconsistent with others.
    #[error("config.json: field '{field}': {message}")]
    Config {
        /// The field (dotted path for nested fields, e.g. `rope_parameters.rope_theta`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint tensor whose shape or format does not fit the model's configuration.
    #[error("tensor '{tensor}': {message}")]
    Tensor {
        /// The tensor name.
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// An architecture (HF `model_type`) floe has no implementation of.
    #[error("unsupported architecture '{arch}' (supported: {})", supported.join(", "))]
    UnsupportedArch {
        /// The checkpoint's `model_type`.
        arch: String,
        /// The architectures floe implements.
        supported: Vec<String>,
    },
    /// More tokens than the model state's context limit.
    #[error("context limit exceeded: {needed} tokens needed but the context holds {capacity}")]
    ContextOverflow {
        /// Tokens the state would have to hold.
        needed: usize,
        /// The state's capacity.
        capacity: usize,
    },
    /// A token id outside the vocabulary.
    #[error("token {token} at position {position} is outside the vocabulary (size {vocab})")]
    TokenOutOfRange {
        /// The token id.
        token: u32,
        /// Its index in the input.
        position: usize,
        /// Vocabulary size.
        vocab: usize,
    },
    /// An empty input where tokens are needed.
    #[error("empty input: {0}")]
    EmptyInput(String),
    /// A bad argument (sampling parameter, context size, …), with its name.
    #[error("invalid argument '{name}': {message}")]
    Argument {
        /// The argument.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A tokenizer that cannot be loaded or fails on its input.
    #[error("tokenizer {path}: {message}")]
    Tokenizer {
        /// The tokenizer file (or a description when there is none).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A chat template that cannot be found, parsed or rendered.
    #[error("chat template ({source_file}): {message}")]
    ChatTemplate {
        /// Where the template came from.
        source_file: PathBuf,
        /// What is wrong.
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
    /// A checkpoint error (missing tensor, bad blob, checksum).
    #[error(transparent)]
    Format(#[from] floe_format::FormatError),
    /// A backend error.
    #[error("compute: {0}")]
    Compute(#[from] floe_compute::ComputeError),
}

impl ModelError {
    /// A [`ModelError::Config`] for `field`.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::Config {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A [`ModelError::Tensor`] for `tensor`.
    pub fn tensor(tensor: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::Tensor {
            tensor: tensor.into(),
            message: message.into(),
        }
    }

    /// A [`ModelError::Argument`] for `name`.
    pub fn argument(name: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::Argument {
            name: name.into(),
            message: message.into(),
        }
    }
}
