//! `--backend cpu|wgpu|auto`, `--adapter`, `--allow-software`: the error cases, and `floe logits`
//! through wgpu (lavapipe allowed) against the CPU backend on a converted HF fixture.
//!
//! Without a wgpu adapter the wgpu comparison prints a notice and passes, unless
//! `FLOE_REQUIRE_GPU=1` (as CI sets), which makes it fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use floe_format::convert::{convert, ConvertOptions};
use serde_json::Value;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/hf/qwen3_moe_a")
}

fn require_gpu() -> bool {
    std::env::var("FLOE_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

/// The fixture converted into `dir`, and its reference token ids as `--tokens` text.
fn converted(dir: &Path) -> (PathBuf, String) {
    let model = dir.join("qwen3_moe_a");
    convert(&fixture(), &model, &ConvertOptions::default(), &mut |_| {}).unwrap();
    let reference: Value =
        serde_json::from_slice(&std::fs::read(fixture().join("reference.json")).unwrap()).unwrap();
    let tokens: Vec<String> = reference["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    (model, tokens.join(","))
}

fn floe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_floe"))
        .args(args)
        .output()
        .unwrap()
}

fn logits(model: &Path, tokens: &str, backend: &[&str]) -> Output {
    let mut args = vec!["logits", model.to_str().unwrap(), "--tokens", tokens];
    args.extend_from_slice(backend);
    floe(&args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn rows(out: &Output) -> Vec<Vec<f64>> {
    common::logits_rows(&out.stdout)
}

/// Every position's logits within `tolerance` × max |reference| of the reference's.
fn assert_close(ours: &[Vec<f64>], reference: &[Vec<f64>], tolerance: f64, what: &str) {
    assert_eq!(ours.len(), reference.len(), "{what}: positions");
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert_eq!(a.len(), b.len(), "{what}: position {i} vocabulary");
        let max = b.iter().map(|v| v.abs()).fold(0.0, f64::max);
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(
            worst <= tolerance * max,
            "{what}: position {i}: max |Δ| {worst} > {tolerance} × {max}"
        );
    }
}

#[test]
fn unknown_backend_lists_the_available_ones() {
    let out = floe(&["logits", "no-such-dir", "--tokens", "1", "--backend", "tpu"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("--backend 'tpu' is not built into this floe"),
        "{err}"
    );
    assert!(err.contains("available: cpu"), "{err}");
    #[cfg(feature = "wgpu")]
    assert!(err.contains("wgpu"), "{err}");
}

#[test]
fn gpu_flags_with_the_cpu_backend_are_an_error() {
    for flag in [
        &["--adapter", "0"][..],
        &["--allow-software"][..],
        &["--gpu-expert-cache", "8"][..],
        &["--gpu-profile"][..],
        &["--gpu-submit-after", "16"][..],
    ] {
        let mut args = vec!["logits", "no-such-dir", "--tokens", "1", "--backend", "cpu"];
        args.extend_from_slice(flag);
        let out = floe(&args);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("do not apply to --backend cpu"),
            "{flag:?}: {err}"
        );
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_without_the_asked_adapter_says_what_was_found() {
    for adapter in ["999", "no-such-adapter-name"] {
        let out = floe(&[
            "logits",
            "no-such-dir",
            "--tokens",
            "1",
            "--backend",
            "wgpu",
            "--adapter",
            adapter,
        ]);
        assert!(!out.status.success(), "--adapter {adapter} succeeded");
        let err = stderr(&out);
        assert!(
            err.contains("cannot start the wgpu backend"),
            "--adapter {adapter}: {err}"
        );
        assert!(
            err.contains("adapters found: [0]") || err.contains("no wgpu adapter was found"),
            "--adapter {adapter}: the message lists no adapters: {err}"
        );
    }
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn wgpu_says_it_was_not_built_in() {
    let out = floe(&[
        "logits",
        "no-such-dir",
        "--tokens",
        "1",
        "--backend",
        "wgpu",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("--backend wgpu is not built into this floe"),
        "{err}"
    );
}

#[test]
fn wgpu_and_auto_logits_match_the_cpu_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, tokens) = converted(tmp.path());
    let cpu = logits(&model, &tokens, &["--backend", "cpu"]);
    assert!(cpu.status.success(), "{}", stderr(&cpu));
    let reference = rows(&cpu);

    // auto runs on a hardware GPU or on the CPU, never on lavapipe; either way the same logits.
    let auto = logits(&model, &tokens, &["--backend", "auto"]);
    assert!(auto.status.success(), "{}", stderr(&auto));
    assert_close(&rows(&auto), &reference, 1e-3, "--backend auto");

    if !cfg!(feature = "wgpu") {
        return;
    }
    let gpu = logits(&model, &tokens, &["--backend", "wgpu", "--allow-software"]);
    if !gpu.status.success() {
        let err = stderr(&gpu);
        let no_adapter = err.contains("no wgpu adapter was found");
        assert!(
            no_adapter && !require_gpu(),
            "floe logits --backend wgpu --allow-software failed: {err}"
        );
        eprintln!(
            "notice: skipping the wgpu logits comparison, no adapter ({err}); set FLOE_REQUIRE_GPU=1 to fail instead"
        );
        return;
    }
    assert_close(&rows(&gpu), &reference, 1e-3, "--backend wgpu");

    // The expert cache (on the upload path of every routed expert) changes no result.
    let cached = logits(
        &model,
        &tokens,
        &[
            "--backend",
            "wgpu",
            "--allow-software",
            "--gpu-expert-cache",
            "64",
        ],
    );
    assert!(cached.status.success(), "{}", stderr(&cached));
    assert_close(&rows(&cached), &reference, 1e-3, "--gpu-expert-cache 64");

    // Profiling changes no result and prints the GPU time of the kernels that ran.
    let profiled = logits(
        &model,
        &tokens,
        &["--backend", "wgpu", "--allow-software", "--gpu-profile"],
    );
    assert!(profiled.status.success(), "{}", stderr(&profiled));
    assert_close(&rows(&profiled), &reference, 1e-3, "--gpu-profile");
    let err = stderr(&profiled);
    assert!(err.contains("gpu profile:"), "{err}");
    for kernel in ["rms_norm", "attn_scores", "softmax_topk"] {
        assert!(
            err.lines().any(|l| l.trim_start().starts_with(kernel)),
            "no {kernel} in the profile: {err}"
        );
    }

    // Submitting every few dispatches changes no result either; zero dispatches is refused.
    let chunked = logits(
        &model,
        &tokens,
        &["--backend", "wgpu", "--allow-software", "--gpu-submit-after", "3"],
    );
    assert!(chunked.status.success(), "{}", stderr(&chunked));
    assert_close(&rows(&chunked), &reference, 1e-3, "--gpu-submit-after 3");
    let zero = logits(
        &model,
        &tokens,
        &["--backend", "wgpu", "--allow-software", "--gpu-submit-after", "0"],
    );
    assert!(!zero.status.success());
    assert!(stderr(&zero).contains("--gpu-submit-after"), "{}", stderr(&zero));
}
