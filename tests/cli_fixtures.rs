//! `floe logits` and `floe run` on a converted HF fixture: the CLI's logits match transformers'.

use std::path::PathBuf;
use std::process::Command;

use floe_format::convert::{convert, ConvertOptions};
use serde_json::Value;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/hf/qwen3_moe_a")
}

fn read_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

#[test]
fn logits_cli_matches_transformers_and_run_uses_the_real_tokenizer() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("qwen3_moe_a");
    convert(&fixture(), &model, &ConvertOptions::default(), &mut |_| {}).unwrap();
    let reference = read_json(&std::fs::read(fixture().join("reference.json")).unwrap());
    let tokens: Vec<String> = reference["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();

    let out = Command::new(env!("CARGO_BIN_EXE_floe"))
        .args([
            "logits",
            model.to_str().unwrap(),
            "--tokens",
            &tokens.join(","),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = read_json(&out.stdout);
    let ours = ours["logits"].as_array().unwrap();
    let theirs = reference["logits"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len());
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
        assert_eq!(a.len(), b.len());
        let max = b
            .iter()
            .map(|v| v.as_f64().unwrap().abs())
            .fold(0.0, f64::max);
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x.as_f64().unwrap() - y.as_f64().unwrap()).abs())
            .fold(0.0, f64::max);
        assert!(
            worst <= 1e-4 * max,
            "position {i}: max |Δ| {worst} > 1e-4 × {max}"
        );
    }

    let out = Command::new(env!("CARGO_BIN_EXE_floe"))
        .args([
            "run",
            model.to_str().unwrap(),
            "--chat",
            "--prompt",
            "What is a mixture of experts?",
            "-n",
            "6",
            "--temp",
            "0",
            "--stats",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The chat template adds a system message: the prompt is more than the user's words.
    let prompt_tokens: usize = stderr
        .split("prompt: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no prompt token count in {stderr}"));
    assert!(prompt_tokens > 20, "{stderr}");
    assert!(stderr.contains("experts read"), "{stderr}");
}
