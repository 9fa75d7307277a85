//! `floe run`, `floe logits` and their bad-input errors, on tiny synthetic checkpoints.

mod common;

use common::{floe, text};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use floe_compute::cpu::CpuBackend;
use floe_format::{Checkpoint, ExpertSource, PreadExpertSource};
use floe_model::synthetic::{write_synthetic_qwen3_moe, SyntheticSpec};
use floe_model::{load_model, LogitsWanted};

/// Asserts a failed run with a clean error message containing every one of `needles`.
fn assert_fails_with(out: &Output, needles: &[&str]) {
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "expected failure; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(stderr.contains("error:"), "no error line: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}: {stderr}");
    }
}

fn model(dir: &Path, tokenizer: bool) -> PathBuf {
    let spec = SyntheticSpec {
        tokenizer,
        ..SyntheticSpec::tiny()
    };
    write_synthetic_qwen3_moe(
        &dir.join(if tokenizer { "tiny" } else { "tiny-no-tok" }),
        &spec,
        false,
    )
    .unwrap()
}

#[test]
fn run_streams_text_and_reports_speed() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path(), true);
    let m = m.to_str().unwrap();
    let args = [
        m,
        "--prompt",
        "Hello there",
        "-n",
        "8",
        "--seed",
        "3",
        "--threads",
        "1",
    ];
    let a = floe(&[&["run"], &args[..]].concat());
    assert!(a.status.success(), "{}", text(&a.stderr));
    let stderr = text(&a.stderr);
    assert!(
        stderr.contains("prompt: ")
            && stderr.contains("tok/s")
            && stderr.contains("generation: 8 tokens"),
        "{stderr}"
    );
    assert!(!stderr.contains("experts read"), "{stderr}");
    // Same seed, same text.
    let b = floe(&[&["run"], &args[..]].concat());
    assert_eq!(a.stdout, b.stdout);

    let stats = floe(&[&["run"], &args[..], &["--stats", "--chat", "--temp", "0"]].concat());
    assert!(stats.status.success(), "{}", text(&stats.stderr));
    let stderr = text(&stats.stderr);
    assert!(
        stderr.contains("experts read")
            && stderr.contains("expert io")
            && stderr.contains("prefill:"),
        "{stderr}"
    );
}

#[test]
fn run_rejects_bad_input_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path(), true);
    let m = m.to_str().unwrap();
    assert_fails_with(&floe(&["run", m, "--prompt", ""]), &["--prompt is empty"]);
    assert_fails_with(
        &floe(&["run", m, "--prompt", "   "]),
        &["--prompt is empty"],
    );
    let long = "many words ".repeat(20);
    assert_fails_with(
        &floe(&["run", m, "--prompt", &long, "--ctx", "16"]),
        &["longer than the context limit of 16"],
    );
    assert_fails_with(
        &floe(&["run", m, "--prompt", "hi", "--ctx", "1000"]),
        &["context", "max_position_embeddings (64)"],
    );
    assert_fails_with(
        &floe(&["run", m, "--prompt", "hi", "--backend", "gpu"]),
        &["'gpu'", "available: cpu"],
    );
    assert_fails_with(
        &floe(&["run", m, "--prompt", "hi", "--top-p", "0"]),
        &["top-p"],
    );
    assert_fails_with(
        &floe(&["run", m, "--prompt", "hi", "--threads", "0"]),
        &["thread"],
    );
    let missing = dir.path().join("nope");
    assert_fails_with(
        &floe(&["run", missing.to_str().unwrap(), "--prompt", "hi"]),
        &["cannot open checkpoint", "nope"],
    );
}

#[test]
fn run_without_tokenizer_says_so_and_logits_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path(), false);
    let m = m.to_str().unwrap();
    assert_fails_with(
        &floe(&["run", m, "--prompt", "hi"]),
        &["tokenizer", "floe logits --tokens"],
    );
    let out = floe(&["logits", m, "--tokens", "1,2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn logits_prints_every_position_as_the_library_computes_them() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path(), true);
    let tokens = [5u32, 17, 200, 3];
    let out = floe(&["logits", m.to_str().unwrap(), "--tokens", "5, 17,200,3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let rows = json["logits"].as_array().unwrap();
    assert_eq!(rows.len(), tokens.len());

    let checkpoint = Arc::new(Checkpoint::open(&m).unwrap());
    let source: Arc<dyn ExpertSource> = Arc::new(PreadExpertSource::new(checkpoint.clone()));
    let model = load_model(
        checkpoint,
        Arc::new(CpuBackend::new(Some(1)).unwrap()),
        source,
    )
    .unwrap();
    let mut state = model.new_state(tokens.len()).unwrap();
    let expected = model
        .forward(&tokens, &mut state, LogitsWanted::All)
        .unwrap();
    for (i, row) in rows.iter().enumerate() {
        let row: Vec<f32> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(row.len(), expected.vocab);
        let max = expected.row(i).iter().fold(0f32, |m, x| m.max(x.abs()));
        for (a, b) in row.iter().zip(expected.row(i)) {
            assert!((a - b).abs() <= 1e-5 * max, "position {i}: {a} vs {b}");
        }
    }
}

#[test]
fn logits_rejects_bad_token_lists() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path(), true);
    let m = m.to_str().unwrap();
    assert_fails_with(
        &floe(&["logits", m, "--tokens", "1,99999"]),
        &["token 99999", "outside the vocabulary"],
    );
    assert_fails_with(
        &floe(&["logits", m, "--tokens", "1,x,3"]),
        &["entry 2", "'x'"],
    );
    assert_fails_with(&floe(&["logits", m, "--tokens", "1,-2"]), &["entry 2"]);
    assert_fails_with(
        &floe(&["logits", m, "--tokens", ""]),
        &["--tokens is empty"],
    );
    let many = vec!["1"; 65].join(",");
    assert_fails_with(&floe(&["logits", m, "--tokens", &many]), &["context limit"]);
    assert_fails_with(
        &floe(&["logits", m, "--tokens", "1", "--backend", "metal"]),
        &["available: cpu"],
    );
}

#[test]
fn demo_builds_once_then_reuses_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let args = [
        "demo",
        "--size",
        "tiny",
        "--dir",
        root,
        "-n",
        "4",
        "--seed",
        "5",
        "--threads",
        "1",
    ];
    let first = floe(&args);
    let stderr = text(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(
        stderr.contains("building a synthetic Qwen3-MoE checkpoint"),
        "{stderr}"
    );
    assert!(
        stderr.contains("random") && stderr.contains("gibberish"),
        "{stderr}"
    );
    assert!(
        stderr.contains("experts read") && stderr.contains("tok/s"),
        "{stderr}"
    );
    let second = floe(&args);
    let stderr = text(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(
        stderr.contains("using the demo checkpoint") && !stderr.contains("building"),
        "{stderr}"
    );
    assert_eq!(first.stdout, second.stdout);
}
