//! Helpers shared by the CLI tests: running the `floe` binary, a tiny synthetic model,
//! `floe bench --json`, the converted `qwen3_moe_a` fixture and logits comparisons.
#![allow(dead_code)] // each test binary uses some of them

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use floe_format::convert::{convert, ConvertOptions};
use serde_json::Value;

/// Runs the `floe` binary with `args`.
pub fn floe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_floe"))
        .args(args)
        .output()
        .expect("floe runs")
}

/// Bytes of a process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `floe synth --preset tiny` into `dir/tiny`; returns its path.
pub fn tiny(dir: &Path) -> String {
    let path = dir.join("tiny").to_str().unwrap().to_string();
    let made = floe(&["synth", "--preset", "tiny", &path]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    path
}

/// `floe bench ARGS --json --threads 1`, which must succeed, as its JSON object.
pub fn bench_json(args: &[&str]) -> Value {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", "--threads", "1"]);
    let out = floe(&all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// The `logits` rows of `floe logits`' JSON output.
pub fn logits_rows(stdout: &[u8]) -> Vec<Vec<f64>> {
    let json: Value = serde_json::from_slice(stdout).expect("floe logits prints JSON");
    json["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// The `qwen3_moe_a` HF fixture (made by transformers; `reference.json` holds its logits).
pub fn qwen3_moe_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/hf/qwen3_moe_a")
}

/// [`qwen3_moe_fixture`] converted into `dir/qwen3_moe_a` with default options: the model's
/// path, the fixture's `reference.json`, and its reference token ids as `--tokens` text.
pub fn converted_fixture(dir: &Path) -> (PathBuf, Value, String) {
    let fixture = qwen3_moe_fixture();
    let model = dir.join("qwen3_moe_a");
    convert(&fixture, &model, &ConvertOptions::default(), &mut |_| {}).unwrap();
    let reference: Value =
        serde_json::from_slice(&std::fs::read(fixture.join("reference.json")).unwrap()).unwrap();
    let tokens: Vec<String> = reference["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    (model, reference, tokens.join(","))
}

/// Per position, the largest |a − b| relative to the largest |b| (0 where they are equal).
pub fn relative_gaps(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let max = y.iter().map(|v| v.abs()).fold(0.0, f64::max);
            let gap = x
                .iter()
                .zip(y)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f64::max);
            if gap == 0.0 {
                0.0
            } else {
                gap / max
            }
        })
        .collect()
}
