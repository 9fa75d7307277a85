//! `--resident-experts`: `floe bench` reports it and the bytes of the experts a token uses (none
//! read), it conflicts with `--cache-budget`, `floe logits` with it gives the streamed logits,
//! and `--gpu-expert-cache` with `--backend auto` on the CPU backend prints a notice.

mod common;

use std::path::Path;

use common::{bench_json, converted_fixture, floe, logits_rows, relative_gaps, text, tiny};
use floe_format::Checkpoint;
use serde_json::Value;

#[test]
fn bench_reports_resident_experts_and_the_bytes_a_token_uses() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(dir.path());
    let common = [&m[..], "--prompt-tokens", "4", "--tokens", "5"];
    let resident = bench_json(&[&common[..], &["--resident-experts"]].concat());
    let streamed =
        bench_json(&[&common[..], &["--cache-policy", "none", "--no-prefetch"]].concat());
    assert_eq!(resident["resident_experts"], true, "{resident}");
    assert_eq!(streamed["resident_experts"], false, "{streamed}");
    // Nothing is read per token; the bytes a token uses come from the checkpoint's layout:
    // k blobs of every sparse layer, what a streamed decode token (k distinct experts per layer)
    // is delivered.
    assert_eq!(resident["expert_bytes_read"], 0, "{resident}");
    assert_eq!(
        resident["bytes_per_token"].as_f64(),
        Some(0.0),
        "{resident}"
    );
    let checkpoint = Checkpoint::open(Path::new(&m)).unwrap();
    let k = checkpoint.text_config()["num_experts_per_tok"]
        .as_u64()
        .unwrap();
    let expected: u64 = checkpoint
        .manifest()
        .expert_layers
        .iter()
        .map(|l| k * l.blob_length)
        .sum();
    let per_token = resident["expert_bytes_delivered_per_token"]
        .as_f64()
        .unwrap();
    assert!(expected > 0);
    assert_eq!(per_token, expected as f64, "{resident}");
    assert_eq!(
        streamed["expert_bytes_delivered_per_token"].as_f64(),
        Some(per_token),
        "{streamed}"
    );
    assert!(resident["tok_per_s"].as_f64().unwrap() > 0.0);
    // The CPU backend has no expert cache of its own.
    assert!(resident["gpu_expert_cache"].is_null(), "{resident}");

    // With --experts-per-token 1 a token uses one blob per sparse layer.
    let one = bench_json(
        &[
            &common[..],
            &["--resident-experts", "--experts-per-token", "1"],
        ]
        .concat(),
    );
    assert_eq!(
        one["expert_bytes_delivered_per_token"].as_f64(),
        Some(per_token / k as f64),
        "{one}"
    );

    let out = floe(&[
        "bench",
        &m,
        "--tokens",
        "2",
        "--resident-experts",
        "--threads",
        "1",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("resident"), "{stdout}");
}

#[test]
fn resident_experts_conflict_with_a_cache_budget() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(dir.path());
    for command in [
        vec!["bench", &m[..], "--tokens", "2"],
        vec!["logits", &m[..], "--tokens", "1,2"],
        vec!["run", &m[..], "--prompt", "hi"],
    ] {
        let out = floe(
            &[
                &command[..],
                &["--resident-experts", "--cache-budget", "1G"],
            ]
            .concat(),
        );
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{command:?} accepted both");
        assert!(
            stderr.contains("--resident-experts") && stderr.contains("--cache-budget"),
            "{command:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = floe(&[
        "bench",
        &m,
        "--resident-experts",
        "--routing",
        "trace.jsonl",
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--resident-experts") && stderr.contains("--routing"),
        "{stderr}"
    );
}

fn logits(model: &Path, tokens: &str, extra: &[&str]) -> Vec<Vec<f64>> {
    let out = floe(
        &[
            &[
                "logits",
                model.to_str().unwrap(),
                "--tokens",
                tokens,
                "--threads",
                "1",
            ][..],
            extra,
        ]
        .concat(),
    );
    assert!(out.status.success(), "{extra:?}: {}", text(&out.stderr));
    logits_rows(&out.stdout)
}

#[test]
fn logits_with_resident_experts_equal_streamed_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, _, tokens) = converted_fixture(tmp.path());
    let streamed = logits(&model, &tokens, &[]);
    for extra in [
        &["--resident-experts"][..],
        &["--resident-experts", "--experts-per-token", "3"],
    ] {
        let resident = logits(&model, &tokens, extra);
        assert_eq!(resident.len(), streamed.len());
        for (i, gap) in relative_gaps(&resident, &streamed).into_iter().enumerate() {
            assert!(
                gap <= 1e-5,
                "{extra:?}: position {i}: max |Δ| is {gap} of the largest |streamed|, over 1e-5"
            );
        }
    }
    // A different K still reaches the resident path.
    let one = logits(
        &model,
        &tokens,
        &["--resident-experts", "--experts-per-token", "1"],
    );
    assert_ne!(one, streamed);

    let out = floe(&[
        "run",
        model.to_str().unwrap(),
        "--prompt",
        "Experts",
        "-n",
        "2",
        "--temp",
        "0",
        "--stats",
        "--threads",
        "1",
        "--resident-experts",
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("experts: resident"), "{stderr}");
}

#[test]
fn a_gpu_expert_cache_ignored_by_auto_on_the_cpu_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(dir.path());
    let out = floe(&[
        "bench",
        &m,
        "--tokens",
        "1",
        "--backend",
        "auto",
        "--gpu-expert-cache",
        "16",
        "--json",
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let backend = report["backend"].as_str().unwrap();
    let notice = stderr.contains("--gpu-expert-cache is ignored");
    // auto takes a hardware GPU when there is one (then the cache applies), else the CPU.
    assert_eq!(notice, backend.starts_with("cpu"), "{backend}: {stderr}");
    if !notice {
        assert!(report["gpu_expert_cache"].is_object(), "{report}");
    }
}
