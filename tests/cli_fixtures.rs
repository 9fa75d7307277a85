//! `floe logits` and `floe run` on a converted HF fixture: the CLI's logits match transformers'.

mod common;

use std::process::Command;

use common::{converted_fixture, floe, logits_rows, relative_gaps, text};

#[test]
fn logits_cli_matches_transformers_and_run_uses_the_real_tokenizer() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, reference, tokens) = converted_fixture(tmp.path());
    let out = floe(&["logits", model.to_str().unwrap(), "--tokens", &tokens]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ours = logits_rows(&out.stdout);
    let theirs = logits_rows(reference.to_string().as_bytes());
    assert_eq!(ours.len(), theirs.len());
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a.len(), b.len(), "position {i}");
    }
    for (i, gap) in relative_gaps(&ours, &theirs).into_iter().enumerate() {
        assert!(
            gap <= 1e-4,
            "position {i}: max |Δ| is {gap} of the largest |reference|, over 1e-4"
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
