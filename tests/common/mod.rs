//! Helpers shared by the CLI tests: running the `floe` binary, a tiny synthetic model, and
//! `floe bench --json`.
#![allow(dead_code)] // each test binary uses some of them

use std::path::Path;
use std::process::{Command, Output};

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
