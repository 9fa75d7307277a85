//! Chat formatting: the model's Jinja `chat_template` (from `tokenizer_config.json` or
//! `chat_template.jinja`) rendered with minijinja the way transformers renders it.

use std::path::{Path, PathBuf};

use floe_format::Checkpoint;
use serde::Serialize;
use serde_json::Value;

use crate::ModelError;

/// The tokenizer configuration file that holds the chat template and special tokens.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
/// The file transformers ≥ 4.50 writes the chat template to.
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message from `role`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A chat template with the special tokens it may refer to.
#[derive(Clone, Debug)]
pub struct ChatTemplate {
    template: String,
    source: PathBuf,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

impl ChatTemplate {
    /// A template from its source text; `source` names where it came from, for messages.
    pub fn new(
        template: String,
        source: PathBuf,
        bos_token: Option<String>,
        eos_token: Option<String>,
    ) -> Self {
        Self {
            template,
            source,
            bos_token,
            eos_token,
        }
    }

    /// The checkpoint's chat template: `chat_template.jinja` if present, else the
    /// `chat_template` of `tokenizer_config.json` (whose `bos_token` / `eos_token` are used
    /// either way). A checkpoint without a template is an error saying where it looked.
    pub fn from_checkpoint(checkpoint: &Checkpoint) -> Result<Self, ModelError> {
        Self::from_files(
            checkpoint.extra_file(TOKENIZER_CONFIG_FILE).as_deref(),
            checkpoint.extra_file(CHAT_TEMPLATE_FILE).as_deref(),
            checkpoint.dir(),
        )
    }

    /// Like [`ChatTemplate::from_checkpoint`] from explicit files (`dir` for messages).
    pub fn from_files(
        tokenizer_config: Option<&Path>,
        jinja: Option<&Path>,
        dir: &Path,
    ) -> Result<Self, ModelError> {
        let config = match tokenizer_config {
            Some(path) => Some((path, read_json(path)?)),
            None => None,
        };
        let special = |key: &str| -> Option<String> {
            let v = config.as_ref()?.1.get(key)?;
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
                _ => None,
            }
        };
        let (bos, eos) = (special("bos_token"), special("eos_token"));
        if let Some(path) = jinja {
            let template = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            return Ok(Self::new(template, path.to_path_buf(), bos, eos));
        }
        let Some((path, config)) = config else {
            return Err(ModelError::ChatTemplate {
                source_file: dir.join(TOKENIZER_CONFIG_FILE),
                message: format!(
                    "the checkpoint has neither {TOKENIZER_CONFIG_FILE} nor {CHAT_TEMPLATE_FILE}"
                ),
            });
        };
        let template =
            template_from_config(&config).map_err(|message| ModelError::ChatTemplate {
                source_file: path.to_path_buf(),
                message,
            })?;
        Ok(Self::new(template, path.to_path_buf(), bos, eos))
    }

    /// The BOS token text, if the tokenizer config names one.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    /// The EOS token text, if the tokenizer config names one.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// Renders `messages`; with `add_generation_prompt` the text ends where the assistant's reply
    /// begins. Rendered like transformers: `trim_blocks` and `lstrip_blocks` on, Python string
    /// methods available, `raise_exception` failing the render with its message.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, ModelError> {
        let error = |message: String| ModelError::ChatTemplate {
            source_file: self.source.clone(),
            message,
        };
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        env.add_template("chat", &self.template)
            .map_err(|e| error(format!("does not parse: {e:#}")))?;
        let template = env.get_template("chat").map_err(|e| error(e.to_string()))?;
        let context = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.clone().unwrap_or_default(),
            eos_token => self.eos_token.clone().unwrap_or_default(),
        };
        template
            .render(context)
            .map_err(|e| error(format!("rendering failed: {e:#}")))
    }
}

fn read_json(path: &Path) -> Result<Value, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ModelError::ChatTemplate {
        source_file: path.to_path_buf(),
        message: format!("not valid JSON: {e}"),
    })
}

/// `chat_template` of a tokenizer config: a string, or a list of `{name, template}` of which the
/// one named `default` (else the first) is used.
fn template_from_config(config: &Value) -> Result<String, String> {
    match config.get("chat_template") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(list)) => {
            let named = |n: &str| {
                list.iter()
                    .find(|t| t.get("name").and_then(Value::as_str) == Some(n))
            };
            named("default")
                .or_else(|| list.first())
                .and_then(|t| t.get("template"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    "field 'chat_template' is a list without a usable {name, template} entry"
                        .to_string()
                })
        }
        Some(other) => Err(format!(
            "field 'chat_template' is neither a string nor a list: {other}"
        )),
        None => Err("no field 'chat_template'".into()),
    }
}
