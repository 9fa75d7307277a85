//! The fixtures' byte-level BPE tokenizer and ChatML template against the encodings and
//! renderings transformers produced (`fixtures/hf/tokenizer_reference.json`).

use std::path::PathBuf;

use floe_model::{ChatMessage, ChatTemplate, StreamDecoder, TextTokenizer};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hf")
}

fn reference() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("tokenizer_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn tokenizer() -> TextTokenizer {
    TextTokenizer::from_file(&fixture_dir().join("qwen3_moe_a/tokenizer.json")).unwrap()
}

#[test]
fn encodings_and_decodings_match_transformers() {
    let t = tokenizer();
    let r = reference();
    assert_eq!(t.vocab_size(), r["vocab_size"].as_u64().unwrap() as usize);
    let encodings = r["encodings"].as_array().unwrap();
    assert!(encodings.len() >= 10);
    for e in encodings {
        let text = e["text"].as_str().unwrap();
        let expected = ids(&e["ids"]);
        assert_eq!(
            t.encode(text, false).unwrap(),
            expected,
            "encoding {text:?}"
        );
        assert_eq!(
            t.decode(&expected, false).unwrap(),
            e["decoded"].as_str().unwrap(),
            "decoding {text:?}"
        );
        let skipped = e["decoded_skip_special"].as_str().unwrap();
        assert_eq!(
            t.decode(&expected, true).unwrap(),
            skipped,
            "decoding {text:?} without specials"
        );

        let mut stream = StreamDecoder::new(true);
        let mut out = String::new();
        for &id in &expected {
            let piece = stream.push(&t, id).unwrap();
            assert!(
                !piece.contains('\u{FFFD}') && !piece.contains('Ġ'),
                "{text:?}: streamed {piece:?}"
            );
            out += &piece;
        }
        out += &stream.finish(&t).unwrap();
        assert_eq!(out, skipped, "streaming {text:?}");
    }
}

#[test]
fn chat_template_renders_like_transformers() {
    let dir = fixture_dir().join("qwen3_moe_a");
    let template =
        ChatTemplate::from_files(Some(&dir.join("tokenizer_config.json")), None, &dir).unwrap();
    assert_eq!(template.eos_token(), Some("<|im_end|>"));
    let t = tokenizer();
    let renderings = reference()["chat_template_renderings"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!renderings.is_empty());
    for r in renderings {
        let messages: Vec<ChatMessage> = r["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect();
        let rendered = template
            .render(&messages, r["add_generation_prompt"].as_bool().unwrap())
            .unwrap();
        assert_eq!(rendered, r["rendered"].as_str().unwrap());
        assert_eq!(t.encode(&rendered, false).unwrap(), ids(&r["ids"]));
    }
}
