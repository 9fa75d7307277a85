//! Tokenizer, streaming detokenizer and chat template tests on the synthetic byte-level
//! tokenizer (the HF fixtures' tokenizer is covered in `hf_fixtures.rs`).

use std::path::PathBuf;

use floe_model::synthetic::tokenizer::{
    byte_level_tokenizer, byte_level_tokenizer_config, byte_level_vocab_size, CHATML_TEMPLATE,
};
use floe_model::{ChatMessage, ChatTemplate, ModelError, StreamDecoder, TextTokenizer};

const SAMPLES: [&str; 6] = [
    "Hello, world! The answer is 42.",
    "Grüße aus Köln — ça va? ¿Qué tal?",
    "日本語のテキストと中文文本",
    "Emoji: 🦀🚀👩‍👩‍👧 and flags 🇫🇷🇯🇵",
    "  leading spaces, tabs\tand\nnewlines\n\n",
    "Русский текст и ελληνικά",
];

fn tokenizer() -> (tempfile::TempDir, TextTokenizer) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, serde_json::to_vec(&byte_level_tokenizer()).unwrap()).unwrap();
    let t = TextTokenizer::from_file(&path).unwrap();
    (dir, t)
}

#[test]
fn round_trips_multilingual_text_and_emoji() {
    let (_dir, t) = tokenizer();
    assert_eq!(t.vocab_size(), byte_level_vocab_size());
    for text in SAMPLES {
        let ids = t.encode(text, false).unwrap();
        assert!(!ids.is_empty());
        assert!(ids
            .iter()
            .all(|&id| (id as usize) < byte_level_vocab_size()));
        assert_eq!(t.decode(&ids, false).unwrap(), text);
    }
    // Merges apply: " the" is one token.
    assert_eq!(t.encode(" the", false).unwrap().len(), 1);
}

#[test]
fn special_tokens_in_text_become_their_ids() {
    let (_dir, t) = tokenizer();
    let im_start = t.token_id("<|im_start|>").unwrap();
    let ids = t.encode("<|im_start|>user\nhi", false).unwrap();
    assert_eq!(ids[0], im_start);
    assert_eq!(t.decode(&ids, true).unwrap(), "user\nhi");
}

#[test]
fn streaming_equals_full_decode_and_never_splits_characters() {
    let (_dir, t) = tokenizer();
    for text in SAMPLES {
        let ids = t.encode(text, false).unwrap();
        let mut stream = StreamDecoder::new(true);
        let mut pieces = Vec::new();
        for &id in &ids {
            let piece = stream.push(&t, id).unwrap();
            assert!(
                !piece.contains('\u{FFFD}'),
                "broken UTF-8 streamed for {text:?}: {piece:?}"
            );
            assert!(
                !piece.contains('Ġ'),
                "byte-level marker streamed for {text:?}: {piece:?}"
            );
            pieces.push(piece);
        }
        pieces.push(stream.finish(&t).unwrap());
        assert_eq!(pieces.concat(), t.decode(&ids, true).unwrap());
        assert_eq!(pieces.concat(), text);
        // A 4-byte emoji is held back until its last byte-token arrives.
        if text.contains('🦀') {
            assert!(pieces.iter().any(|p| p.is_empty()));
        }
    }
}

#[test]
fn stream_flushes_an_incomplete_character_at_the_end() {
    let (_dir, t) = tokenizer();
    let ids = t.encode("ok 🦀", false).unwrap();
    let cut = &ids[..ids.len() - 1];
    let mut stream = StreamDecoder::new(true);
    let mut text = String::new();
    for &id in cut {
        text += &stream.push(&t, id).unwrap();
    }
    assert_eq!(text, "ok ");
    let rest = stream.finish(&t).unwrap();
    assert_eq!(text + &rest, t.decode(cut, true).unwrap());
    assert!(rest.contains('\u{FFFD}'));
}

fn template() -> ChatTemplate {
    ChatTemplate::new(
        CHATML_TEMPLATE.to_string(),
        PathBuf::from("test"),
        None,
        Some("<|im_end|>".into()),
    )
}

#[test]
fn chatml_template_renders_as_transformers_does() {
    // Expected strings rendered by jinja2 with transformers' settings (trim_blocks, lstrip_blocks).
    let messages = [
        ChatMessage::new("system", "Be brief."),
        ChatMessage::new("user", "Hi  there\n"),
    ];
    assert_eq!(
        template().render(&messages, true).unwrap(),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi  there\n<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(
        template().render(&messages, false).unwrap(),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi  there\n<|im_end|>\n"
    );
}

#[test]
fn python_string_methods_and_raise_exception_work() {
    // A Qwen-style template; expected output rendered by jinja2 with transformers' settings.
    let source = "{%- if messages[0].role == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0].content.strip() + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages[1:] %}
    {%- if message.content.startswith('<think>') %}
        {{- raise_exception('no think') }}
    {%- endif %}
    {{- '<|im_start|>' + message.role + '\\n' + message.content.split('|')[0].rstrip() + '<|im_end|>\\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}";
    let t = ChatTemplate::new(source.into(), PathBuf::from("test"), None, None);
    let messages = [
        ChatMessage::new("system", "  sys  "),
        ChatMessage::new("user", "a b | c"),
    ];
    assert_eq!(
        t.render(&messages, true).unwrap(),
        "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\na b<|im_end|>\n<|im_start|>assistant\n"
    );
    let err = t
        .render(
            &[
                ChatMessage::new("system", "s"),
                ChatMessage::new("user", "<think>x"),
            ],
            true,
        )
        .unwrap_err();
    assert!(matches!(err, ModelError::ChatTemplate { .. }));
    assert!(err.to_string().contains("no think"), "{err}");
}

#[test]
fn template_and_special_tokens_come_from_tokenizer_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenizer_config.json");
    std::fs::write(
        &config,
        serde_json::to_vec(&byte_level_tokenizer_config()).unwrap(),
    )
    .unwrap();
    let t = ChatTemplate::from_files(Some(&config), None, dir.path()).unwrap();
    assert_eq!(t.eos_token(), Some("<|im_end|>"));
    assert_eq!(t.bos_token(), None);
    assert!(t
        .render(&[ChatMessage::new("user", "x")], true)
        .unwrap()
        .ends_with("<|im_start|>assistant\n"));

    let jinja = dir.path().join("chat_template.jinja");
    std::fs::write(&jinja, "{{ messages[0].content }}!").unwrap();
    let t = ChatTemplate::from_files(Some(&config), Some(&jinja), dir.path()).unwrap();
    assert_eq!(
        t.render(&[ChatMessage::new("user", "x")], true).unwrap(),
        "x!"
    );

    let missing = ChatTemplate::from_files(None, None, dir.path()).unwrap_err();
    assert!(
        missing.to_string().contains("tokenizer_config.json"),
        "{missing}"
    );
    std::fs::write(&config, "{\"eos_token\": \"x\"}").unwrap();
    let no_field = ChatTemplate::from_files(Some(&config), None, dir.path()).unwrap_err();
    assert!(no_field.to_string().contains("chat_template"), "{no_field}");
}

#[test]
fn missing_or_broken_tokenizer_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = TextTokenizer::from_file(&dir.path().join("tokenizer.json"))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("tokenizer.json") && err.to_string().contains("no such file"),
        "{err}"
    );
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, "{not json").unwrap();
    let err = TextTokenizer::from_file(&path).err().unwrap();
    assert!(err.to_string().contains("cannot be loaded"), "{err}");
}
