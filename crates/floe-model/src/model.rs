//! The interface every architecture implements.

use floe_compute::Backend;

use crate::{ModelError, ModelState};

/// Which positions of a forward pass need logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitsWanted {
    /// Every input position (scoring, tests).
    All,
    /// Only the last position (generation: saves the LM head on the rest of the prompt).
    Last,
}

/// Logits of some positions: `rows × vocab` values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Logits {
    /// Rows (positions).
    pub rows: usize,
    /// Vocabulary size (values per row).
    pub vocab: usize,
    /// The values.
    pub values: Vec<f32>,
}

impl Logits {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.vocab..(i + 1) * self.vocab]
    }

    /// The last row.
    pub fn last(&self) -> &[f32] {
        self.row(self.rows - 1)
    }

    /// Every row.
    pub fn iter_rows(&self) -> impl Iterator<Item = &[f32]> {
        self.values.chunks_exact(self.vocab.max(1))
    }
}

/// Facts about a loaded model that callers need.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// The architecture (`model_type`).
    pub arch: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// The longest context the model was trained for (`max_position_embeddings`).
    pub max_context: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Layers with routed experts.
    pub sparse_layers: usize,
    /// `bos_token_id` of `config.json`.
    pub bos_token_id: Option<u32>,
    /// `eos_token_id` of `config.json`.
    pub eos_token_ids: Vec<u32>,
}

impl ModelInfo {
    /// Refuses a state of `context` tokens longer than the model's `max_position_embeddings`.
    pub fn check_context(&self, context: usize) -> Result<(), ModelError> {
        if context > self.max_context {
            return Err(ModelError::argument(
                "context",
                format!(
                    "{context} tokens exceeds the model's max_position_embeddings ({})",
                    self.max_context
                ),
            ));
        }
        Ok(())
    }
}

/// A decoder-only language model on backend `B`.
pub trait Model<B: Backend>: Send + Sync {
    /// Facts about the model.
    fn info(&self) -> &ModelInfo;

    /// An empty sequence state holding up to `context` tokens (at most
    /// [`ModelInfo::max_context`]).
    fn new_state(&self, context: usize) -> Result<ModelState<B>, ModelError>;

    /// Runs `tokens` (non-empty, each in the vocabulary) at the positions after those `state`
    /// holds, appends them to `state`, and returns the logits of the positions `wanted`. A prompt
    /// is one call (prefill); each generated token is one more call with one token (decode).
    /// Fails with [`ModelError::ContextOverflow`] if `state` has no room, leaving it unchanged.
    fn forward(
        &self,
        tokens: &[u32],
        state: &mut ModelState<B>,
        wanted: LogitsWanted,
    ) -> Result<Logits, ModelError>;
}

/// Checks a forward pass's input: non-empty, every id in the vocabulary, room in the state.
pub fn check_input<B: Backend>(
    tokens: &[u32],
    vocab: usize,
    state: &ModelState<B>,
) -> Result<(), ModelError> {
    if tokens.is_empty() {
        return Err(ModelError::EmptyInput(
            "a forward pass needs at least one token".into(),
        ));
    }
    if let Some((position, &token)) = tokens
        .iter()
        .enumerate()
        .find(|(_, &t)| t as usize >= vocab)
    {
        return Err(ModelError::TokenOutOfRange {
            token,
            position,
            vocab,
        });
    }
    state.check_room(tokens.len())
}
