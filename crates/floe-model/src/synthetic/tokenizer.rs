//! A small byte-level BPE tokenizer (GPT-2 byte alphabet, a few merges, ChatML special tokens)
//! written as an HF `tokenizer.json`, for synthetic checkpoints and tests.

use serde_json::{json, Map, Value};

/// The ChatML special tokens the synthetic tokenizer adds after its merges, in id order.
pub const CHATML_SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// A ChatML chat template (the form Qwen models use, without tool calls), in the multi-line
/// style that relies on `trim_blocks` / `lstrip_blocks` as HF templates do.
pub const CHATML_TEMPLATE: &str = "{%- for message in messages %}
    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
";

/// Common English pairs merged on top of the 256 byte tokens.
const MERGES: [(&str, &str); 16] = [
    ("Ġ", "t"),
    ("h", "e"),
    ("i", "n"),
    ("e", "r"),
    ("a", "n"),
    ("Ġ", "a"),
    ("o", "n"),
    ("r", "e"),
    ("Ġt", "he"),
    ("Ġ", "s"),
    ("e", "n"),
    ("o", "u"),
    ("Ġ", "w"),
    ("a", "t"),
    ("i", "s"),
    ("Ġ", "o"),
];

/// GPT-2's map from bytes to printable characters, as used by byte-level BPE.
pub fn byte_to_char() -> [char; 256] {
    let mut printable: Vec<u32> = (u32::from('!')..=u32::from('~')).collect();
    printable.extend(u32::from('¡')..=u32::from('¬'));
    printable.extend(u32::from('®')..=u32::from('ÿ'));
    let mut map = ['\0'; 256];
    let mut extra = 0;
    for b in 0..256u32 {
        let c = if printable.contains(&b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        map[b as usize] = char::from_u32(c).expect("GPT-2 byte alphabet is valid Unicode");
    }
    map
}

/// Vocabulary size of [`byte_level_tokenizer`]: 256 bytes, the merges, the special tokens.
pub fn byte_level_vocab_size() -> usize {
    256 + MERGES.len() + CHATML_SPECIAL_TOKENS.len()
}

/// The `tokenizer.json` of a byte-level BPE tokenizer: ids 0–255 are the bytes (in GPT-2's
/// alphabet order), then one id per merge, then [`CHATML_SPECIAL_TOKENS`].
pub fn byte_level_tokenizer() -> Value {
    let alphabet = byte_to_char();
    let mut vocab = Map::new();
    for (id, c) in alphabet.iter().enumerate() {
        vocab.insert(c.to_string(), json!(id));
    }
    for (a, b) in MERGES {
        let id = vocab.len();
        vocab.insert(format!("{a}{b}"), json!(id));
    }
    let first_special = vocab.len();
    let added: Vec<Value> = CHATML_SPECIAL_TOKENS
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({
                "id": first_special + i, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true
            })
        })
        .collect();
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true});
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": byte_level,
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab,
            "merges": MERGES.iter().map(|(a, b)| format!("{a} {b}")).collect::<Vec<_>>(),
        }
    })
}

/// A `tokenizer_config.json` for [`byte_level_tokenizer`]: the ChatML template, `<|im_end|>` as
/// EOS, no BOS.
pub fn byte_level_tokenizer_config() -> Value {
    json!({
        "chat_template": CHATML_TEMPLATE,
        "eos_token": "<|im_end|>",
        "bos_token": null,
        "pad_token": "<|endoftext|>",
        "tokenizer_class": "Qwen2Tokenizer",
    })
}
