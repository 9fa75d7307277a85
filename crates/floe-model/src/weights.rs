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
        let view = self.matrix_view(name, rows, cols)?;
        self.upload(name, view.format, rows, cols, view.bytes)
    }

    /// The matrices `parts` (`(name, rows)`, each `cols` wide) stacked into one weight whose
    /// rows are theirs in order, when the backend prefers stacked projections
    /// ([`floe_compute::Backend::prefers_stacked_projections`]) and they share a format; else
    /// `None`, and the caller loads them one by one. Shapes are checked as by
    /// [`WeightLoader::matrix`].
    pub fn stacked_matrices(
        &self,
        parts: &[(&str, usize)],
        cols: usize,
    ) -> Result<Option<B::Weight>, ModelError> {
        if !self.backend.prefers_stacked_projections() {
            return Ok(None);
        }
        let views = parts
            .iter()
            .map(|&(name, rows)| self.matrix_view(name, rows, cols))
            .collect::<Result<Vec<_>, _>>()?;
        let names = parts.iter().map(|p| p.0).collect::<Vec<_>>().join(" + ");
        let parts: Vec<WeightData> = parts
            .iter()
            .zip(views)
            .map(|(&(_, rows), v)| WeightData {
                format: v.format,
                rows,
                cols,
                bytes: v.bytes,
            })
            .collect();
        match stack_rows(&names, &parts)? {
            Some(w) => self
                .upload(&names, w.format, w.rows, w.cols, w.bytes)
                .map(Some),
            None => Ok(None),
        }
    }

    /// The dense tensor `name`, checked to be `[rows, cols]`.
    fn matrix_view(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<floe_format::DenseView, ModelError> {
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
        Ok(view)
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

/// `parts` (matrices of one width) as one weight whose rows are theirs in order
/// (`floe_quant::concat_rows`), or `None` when they differ in format or width; `what` names
/// them in an error.
pub(crate) fn stack_rows(
    what: &str,
    parts: &[WeightData],
) -> Result<Option<WeightData>, ModelError> {
    let Some(first) = parts.first() else {
        return Ok(None);
    };
    if parts
        .iter()
        .any(|p| p.format != first.format || p.cols != first.cols)
    {
        return Ok(None);
    }
    let pieces: Vec<(usize, &[u8])> = parts.iter().map(|p| (p.rows, &p.bytes[..])).collect();
    let bytes = floe_quant::concat_rows(first.format, first.cols, &pieces)
        .map_err(|e| ModelError::tensor(what, e.to_string()))?;
    Ok(Some(WeightData {
        format: first.format,
        rows: parts.iter().map(|p| p.rows).sum(),
        cols: first.cols,
        bytes: bytes::Bytes::from(bytes),
    }))
}
