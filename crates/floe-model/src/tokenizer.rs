//! Text ↔ token ids through the checkpoint's HF `tokenizer.json` (the `tokenizers` crate).

use std::path::{Path, PathBuf};

use floe_format::Checkpoint;

use crate::ModelError;

/// The name of the tokenizer file in a checkpoint.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// A loaded HF tokenizer.
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl TextTokenizer {
    /// Loads a `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        if !path.is_file() {
            return Err(ModelError::Tokenizer {
                path: path.to_path_buf(),
                message: "no such file".into(),
            });
        }
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| ModelError::Tokenizer {
            path: path.to_path_buf(),
            message: format!("cannot be loaded: {e}"),
        })?;
        Ok(Self {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// Loads the checkpoint's `tokenizer.json`; a checkpoint without one is an error saying so.
    pub fn from_checkpoint(checkpoint: &Checkpoint) -> Result<Self, ModelError> {
        let path = checkpoint.extra_file(TOKENIZER_FILE).ok_or_else(|| ModelError::Tokenizer {
            path: checkpoint.dir().join(TOKENIZER_FILE),
            message: "the checkpoint has no tokenizer (convert it from a directory that has tokenizer.json)".into(),
        })?;
        Self::from_file(&path)
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Token ids of `text`; `add_special_tokens` applies the tokenizer's post-processor (BOS
    /// etc.). Special tokens written in the text (e.g. `<|im_start|>`) become their ids.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, ModelError> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| self.error(format!("encoding failed: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`; invalid UTF-8 (a character cut between tokens) becomes U+FFFD.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, ModelError> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| self.error(format!("decoding {} tokens failed: {e}", ids.len())))
    }

    /// The id of a token given by its text (e.g. `<|im_end|>`), if it exists.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    fn error(&self, message: String) -> ModelError {
        ModelError::Tokenizer {
            path: self.path.clone(),
            message,
        }
    }
}
