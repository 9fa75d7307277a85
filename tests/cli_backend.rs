//! `--backend cpu|wgpu|auto`, `--adapter`, `--allow-software`: the error cases, and `floe logits`
//! through wgpu (lavapipe allowed) against the CPU backend on a converted HF fixture.
//!
//! Without a wgpu adapter the wgpu comparison prints a notice and passes, unless
//! `FLOE_REQUIRE_GPU=1` (as CI sets), which makes it fail.

mod common;

use std::path::Path;
use std::process::Output;

use common::{converted_fixture, floe, qwen3_moe_fixture, relative_gaps};
use floe_format::convert::{convert, ConvertOptions};

fn require_gpu() -> bool {
    std::env::var("FLOE_REQUIRE_GPU").is_ok_and(|v| v == "1")
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
    }
    for (i, gap) in relative_gaps(ours, reference).into_iter().enumerate() {
        assert!(
            gap <= tolerance,
            "{what}: position {i}: max |Δ| is {gap} of the largest |reference|, over {tolerance}"
        );
    }
}

/// `floe logits` on the wgpu backend (lavapipe allowed) with `extra` flags; asserts that it
/// succeeds and matches `reference` within 1e-3 of each position's largest logit.
fn wgpu_logits_match(model: &Path, tokens: &str, reference: &[Vec<f64>], extra: &[&str]) -> Output {
    let mut args = vec!["--backend", "wgpu", "--allow-software"];
    args.extend_from_slice(extra);
    let out = logits(model, tokens, &args);
    let what = extra.join(" ");
    assert!(out.status.success(), "{what}: {}", stderr(&out));
    assert_close(&rows(&out), reference, 1e-3, &what);
    out
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
        &["--gpu-int8-activations"][..],
        &["--gpu-f32-activations"][..],
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
    let (model, _, tokens) = converted_fixture(tmp.path());
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
    wgpu_logits_match(&model, &tokens, &reference, &["--gpu-expert-cache", "64"]);

    // Profiling changes no result and prints the GPU time of the kernels that ran.
    let profiled = wgpu_logits_match(&model, &tokens, &reference, &["--gpu-profile"]);
    let err = stderr(&profiled);
    assert!(err.contains("gpu profile:"), "{err}");
    for kernel in ["rms_norm", "attention", "softmax_topk"] {
        assert!(
            err.lines().any(|l| l.trim_start().starts_with(kernel)),
            "no {kernel} in the profile: {err}"
        );
    }

    // Submitting every few dispatches changes no result either; zero dispatches is refused.
    wgpu_logits_match(&model, &tokens, &reference, &["--gpu-submit-after", "3"]);
    let zero = logits(
        &model,
        &tokens,
        &[
            "--backend",
            "wgpu",
            "--allow-software",
            "--gpu-submit-after",
            "0",
        ],
    );
    assert!(!zero.status.success());
    assert!(
        stderr(&zero).contains("--gpu-submit-after"),
        "{}",
        stderr(&zero)
    );
}

#[cfg(feature = "wgpu")]
#[test]
fn int8_activations_cost_about_what_8_bit_weights_cost() {
    let tmp = tempfile::tempdir().unwrap();
    let (exact_model, _, _) = converted_fixture(tmp.path());
    let q8_model = tmp.path().join("q8_0");
    let q8: floe_quant::QuantFormat = "q8_0".parse().unwrap();
    let options = ConvertOptions {
        expert_format: Some(q8),
        dense_format: Some(q8),
        ..ConvertOptions::default()
    };
    convert(&qwen3_moe_fixture(), &q8_model, &options, &mut |_| {}).unwrap();
    let tokens = "1,5,9";
    let gpu = [
        "--backend",
        "wgpu",
        "--allow-software",
        "--resident-experts",
    ];
    let with = |flag: Option<&str>| {
        let mut args = gpu.to_vec();
        args.extend(flag);
        logits(&q8_model, tokens, &args)
    };
    let f32_x = with(Some("--gpu-f32-activations"));
    if !f32_x.status.success() && !require_gpu() {
        eprintln!("notice: skipping the int8 activation comparison, no wgpu adapter");
        return;
    }
    assert!(f32_x.status.success(), "{}", stderr(&f32_x));
    // int8 activations are the default; the flag that asked for them still does.
    let int8_x = with(None);
    assert!(int8_x.status.success(), "{}", stderr(&int8_x));
    let asked = with(Some("--gpu-int8-activations"));
    assert!(asked.status.success(), "{}", stderr(&asked));
    assert_eq!(rows(&asked), rows(&int8_x));
    let reference = logits(&exact_model, tokens, &["--backend", "cpu"]);
    assert!(reference.status.success(), "{}", stderr(&reference));
    // Quantizing x to 8 bits per 32 values should cost about what quantizing the weights to
    // 8 bits per 32 values costs (measured on this model: 1.5-2.0% of the largest logit
    // each), and must cost something, or the int8 kernels did not run. With f32 x the GPU
    // matches the CPU backend on the same weights.
    let weights_cost = relative_gaps(&rows(&f32_x), &rows(&reference));
    let x_cost = relative_gaps(&rows(&int8_x), &rows(&f32_x));
    for (i, (x, w)) in x_cost.iter().zip(&weights_cost).enumerate() {
        assert!(
            *x > 0.0 && *x <= 2.0 * w,
            "position {i}: int8 x moved the logits by {x} of their largest, 8-bit weights by {w}"
        );
    }
    let cpu_q8 = logits(
        &q8_model,
        tokens,
        &["--backend", "cpu", "--resident-experts"],
    );
    assert!(cpu_q8.status.success(), "{}", stderr(&cpu_q8));
    assert_close(&rows(&f32_x), &rows(&cpu_q8), 1e-4, "--gpu-f32-activations");
    let mut both = gpu.to_vec();
    both.extend(["--gpu-f32-activations", "--gpu-int8-activations"]);
    let both = logits(&q8_model, tokens, &both);
    assert!(!both.status.success());
    assert!(
        stderr(&both).contains("--gpu-f32-activations"),
        "{}",
        stderr(&both)
    );
}
