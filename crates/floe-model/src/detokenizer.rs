//! Incremental detokenization for streaming: text is emitted as tokens arrive, never a byte-level
//! marker such as `Ġ` and never a UTF-8 character cut between two tokens.

use crate::{ModelError, TextTokenizer};

/// Turns a stream of token ids into text pieces whose concatenation equals the decode of all ids.
///
/// Decoding one token alone is wrong for byte-level BPE (an emoji spans several tokens) and for
/// decoders that treat the first token specially (a leading space), so each step decodes a
/// window that starts one already-emitted token back, and emits only what follows the window's
/// previously emitted text, once it no longer ends in an incomplete character.
pub struct StreamDecoder {
    ids: Vec<u32>,
    prefix_offset: usize,
    read_offset: usize,
    skip_special_tokens: bool,
}

impl StreamDecoder {
    /// An empty stream; `skip_special_tokens` as in [`TextTokenizer::decode`].
    pub fn new(skip_special_tokens: bool) -> Self {
        Self {
            ids: Vec::new(),
            prefix_offset: 0,
            read_offset: 0,
            skip_special_tokens,
        }
    }

    /// Every id pushed so far.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Adds `id`; returns the text that became complete (possibly empty).
    pub fn push(&mut self, tokenizer: &TextTokenizer, id: u32) -> Result<String, ModelError> {
        self.ids.push(id);
        let prefix = tokenizer.decode(
            &self.ids[self.prefix_offset..self.read_offset],
            self.skip_special_tokens,
        )?;
        let full = tokenizer.decode(&self.ids[self.prefix_offset..], self.skip_special_tokens)?;
        if full.ends_with('\u{FFFD}') {
            return Ok(String::new());
        }
        match suffix_after(&full, &prefix) {
            Some(new) if !new.is_empty() => {
                let new = new.to_string();
                self.prefix_offset = self.read_offset;
                self.read_offset = self.ids.len();
                Ok(new)
            }
            _ => Ok(String::new()),
        }
    }

    /// The text still held back (an incomplete character at the end of the stream, decoded
    /// lossily), after which the stream is fully emitted.
    pub fn finish(&mut self, tokenizer: &TextTokenizer) -> Result<String, ModelError> {
        let prefix = tokenizer.decode(
            &self.ids[self.prefix_offset..self.read_offset],
            self.skip_special_tokens,
        )?;
        let full = tokenizer.decode(&self.ids[self.prefix_offset..], self.skip_special_tokens)?;
        self.prefix_offset = self.read_offset;
        self.read_offset = self.ids.len();
        Ok(suffix_after(&full, &prefix).unwrap_or(&full).to_string())
    }
}

/// `full` without its leading `prefix` (or without `prefix.len()` bytes if those fall on a
/// character boundary), `None` when neither works.
fn suffix_after<'a>(full: &'a str, prefix: &str) -> Option<&'a str> {
    full.strip_prefix(prefix)
        .or_else(|| full.get(prefix.len()..))
}
