//! `floe bench` on the tiny synth preset: the JSON report's keys and values, trace replay, and
//! bad input.

mod common;

use common::{bench_json, floe, text, tiny};

#[test]
fn bench_json_has_the_keys_and_sane_values() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(dir.path());
    let report = bench_json(&[
        &m,
        "--prompt-tokens",
        "4",
        "--tokens",
        "6",
        "--cache-policy",
        "none",
        "--no-prefetch",
    ]);
    for key in [
        "tok_per_s",
        "prefill_tok_per_s",
        "expert_bytes_read",
        "expert_read_gbps",
        "cache_hit_rate",
        "peak_rss_bytes",
        "bytes_per_token",
        "stall_seconds",
    ] {
        assert!(report[key].is_number(), "{key} missing: {report}");
    }
    let f = |k: &str| report[k].as_f64().unwrap();
    assert!(f("tok_per_s") > 0.0 && f("prefill_tok_per_s") > 0.0);
    assert_eq!(report["decode_tokens"], 6);
    // No cache: every decode token reads its experts (4 MoE layers × top-k blobs).
    assert_eq!(f("cache_hit_rate"), 0.0);
    assert!(f("expert_bytes_read") > 0.0);
    assert_eq!(f("bytes_per_token"), f("expert_bytes_read") / 6.0);
    assert_eq!(f("bytes_per_token"), f("expert_bytes_delivered_per_token"));
    assert!(f("expert_read_gbps") > 0.0);
    assert!(f("peak_rss_bytes") > 1e6);
    assert!(f("stall_seconds") >= 0.0 && f("stall_seconds") <= f("decode_seconds"));

    // With a cache big enough for the whole model, decode reads far less than it is delivered.
    let cached = bench_json(&[
        &m,
        "--tokens",
        "6",
        "--cache-budget",
        "64MiB",
        "--cache-policy",
        "lru",
    ]);
    assert!(cached["cache_hit_rate"].as_f64().unwrap() > 0.0, "{cached}");
}

#[test]
fn bench_replays_a_routing_trace() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(dir.path());
    // A one-token trace: every decode token uses the same K experts per layer, so decode reads
    // at most one token's blobs (the rest are cache hits); the model's own routing of 8 random
    // tokens reads more than that.
    let trace = dir.path().join("one.jsonl");
    let trace = trace.to_str().unwrap();
    let made = floe(&["synth-trace", "--checkpoint", &m, "--tokens", "1", trace]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let common = [
        &m[..],
        "--prompt-tokens",
        "1",
        "--tokens",
        "8",
        "--cache-budget",
        "64MiB",
        "--no-prefetch",
    ];
    let replayed = bench_json(&[&common[..], &["--routing", trace]].concat());
    let routed = bench_json(&common);
    let one_token = replayed["expert_bytes_delivered_per_token"]
        .as_f64()
        .unwrap();
    assert!(
        replayed["expert_bytes_read"].as_f64().unwrap() <= one_token,
        "{replayed}"
    );
    assert!(
        routed["expert_bytes_read"].as_f64().unwrap() > one_token,
        "{routed}"
    );
    assert!(
        replayed["cache_hit_rate"].as_f64().unwrap() >= 7.0 / 8.0,
        "{replayed}"
    );
}

#[test]
fn bench_rejects_a_trace_that_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(dir.path());
    let trace = dir.path().join("bad.jsonl");
    std::fs::write(&trace, "{\"layers\": [[0, 1]]}\n").unwrap();
    let out = floe(&[
        "bench",
        &m,
        "--tokens",
        "2",
        "--routing",
        trace.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--routing") && stderr.contains("MoE layers"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bench_memory_ceiling_reports_bandwidth() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(dir.path());
    let report = bench_json(&[&m, "--memory-ceiling"]);
    assert!(
        report["memory_read_gbps"].as_f64().unwrap() > 0.1,
        "{report}"
    );
}
