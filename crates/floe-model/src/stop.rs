//! Which tokens end generation: the union of `eos_token_id` in `generation_config.json` and
//! `config.json`, and the tokenizer config's `eos_token`.

use floe_format::Checkpoint;

use crate::config::ConfigFields;
use crate::{ChatTemplate, ModelError, ModelInfo, TextTokenizer};

/// The generation config file transformers writes next to `config.json`.
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";

/// The stop tokens of a checkpoint, sorted and without duplicates: `generation_config.json`'s
/// `eos_token_id` (when the file exists), `info.eos_token_ids` (from `config.json`), and the id
/// of the chat template's `eos_token` (when a tokenizer knows it).
pub fn stop_tokens(
    checkpoint: &Checkpoint,
    info: &ModelInfo,
    tokenizer: Option<&TextTokenizer>,
    template: Option<&ChatTemplate>,
) -> Result<Vec<u32>, ModelError> {
    let mut ids = info.eos_token_ids.clone();
    if let Some(path) = checkpoint.extra_file(GENERATION_CONFIG_FILE) {
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            ModelError::config(
                GENERATION_CONFIG_FILE,
                format!("{}: not valid JSON: {e}", path.display()),
            )
        })?;
        let fields = ConfigFields::new(&value)?;
        ids.extend(
            fields
                .token_ids("eos_token_id")
                .map_err(|e| ModelError::config(GENERATION_CONFIG_FILE, e.to_string()))?,
        );
    }
    if let (Some(tokenizer), Some(eos)) = (tokenizer, template.and_then(ChatTemplate::eos_token)) {
        ids.extend(tokenizer.token_id(eos));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
