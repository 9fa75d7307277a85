//! Loading dense checkpoint tensors into a backend, with shape checks that name the tensor.

use floe_compute::{Backend, WeightData};
use floe_format::Checkpoint;

use crate::ModelError;

/// Hands a checkpoint's dense tensors to a backend as weights.
pub struct WeightLoader<'a, B: Backend> {
    checkpoint: &'a Checkpoint,
    backend: &'a B,
}

impl<'a, B: Backend> WeightLoader<'a, B> {
    /// A loader reading `checkpoint` into `backend`.
    pub fn new(checkpoint: &'a Checkpoint, backend: &'a B) -> Self {
        Self {
            checkpoint,
            backend,
        }
    }

    /// The checkpoint read from.
    pub fn checkpoint(&self) -> &'a Checkpoint {
        self.checkpoint
    }

    /// The backend weights are loaded into.
    pub fn backend(&self) -> &'a B {
        self.backend
    }

    /// Whether the checkpoint has a dense tensor `name`.
    pub fn has(&self, name: &str) -> bool {
        self.checkpoint.has_dense(name)
    }

    /// The `[rows, cols]` matrix `name`; any other shape is an error naming the tensor.
    pub fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<B::Weight, ModelError> {
        let view = self.checkpoint.dense(name)?;
        if view.shape != [rows, cols] {
            return Err(ModelError::tensor(
                name,
                format!(
                    "expected shape [{rows}, {cols}] from config.json, found {:?}",
                    view.shape
                ),
            ));
        }
        self.upload(name, view.format, rows, cols, view.bytes)
    }

    /// The vector `name` of `len` values (a norm weight), as a `[1, len]` weight.
    pub fn vector(&self, name: &str, len: usize) -> Result<B::Weight, ModelError> {
        let view = self.checkpoint.dense(name)?;
        if view.shape != [len] && view.shape != [1, len] {
            return Err(ModelError::tensor(
                name,
                format!(
                    "expected shape [{len}] from config.json, found {:?}",
                    view.shape
                ),
            ));
        }
        self.upload(name, view.format, 1, len, view.bytes)
    }

    fn upload(
        &self,
        name: &str,
        format: floe_quant::QuantFormat,
        rows: usize,
        cols: usize,
        bytes: bytes::Bytes,
    ) -> Result<B::Weight, ModelError> {
        let expected = format
            .matrix_bytes(rows, cols)
            .map_err(|e| ModelError::tensor(name, e.to_string()))?;
        if bytes.len() != expected {
            return Err(ModelError::tensor(
                name,
                format!(
                    "a [{rows}, {cols}] {format} tensor takes {expected} bytes, found {}",
                    bytes.len()
                ),
            ));
        }
        self.backend
            .weight(WeightData {
                format,
                rows,
                cols,
                bytes,
            })
            .map_err(|e| ModelError::tensor(name, e.to_string()))
    }
}
