//! `floe logits` / `floe run` reading experts through floe-stream: identical logits to the plain
//! `PreadExpertSource` for every engine, policy and I/O mode, prefetch hints that change nothing,
//! and a clear error for a cache budget below one layer's experts.

mod common;

use common::{floe, text, tiny};

/// The logits JSON of `tokens` with extra flags.
fn logits(model: &str, flags: &[&str]) -> String {
    let mut args = vec![
        "logits",
        model,
        "--tokens",
        "3,1,4,1,5,9,2,6",
        "--threads",
        "1",
    ];
    args.extend_from_slice(flags);
    let out = floe(&args);
    assert!(out.status.success(), "{flags:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn streamed_logits_equal_the_plain_source_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(dir.path());
    let plain = logits(&m, &["--io-engine", "plain"]);
    assert!(plain.contains("logits"), "{plain}");
    for flags in [
        &[][..],
        &["--io-engine", "uring", "--queue-depth", "4"],
        &["--io-engine", "mmap", "--cache-policy", "none"],
        &["--cache-policy", "lfu", "--buffered"],
        &["--cache-policy", "none", "--io-threads", "1", "--no-verify"],
    ] {
        assert_eq!(logits(&m, flags), plain, "{flags:?} changed the logits");
    }
}

#[test]
fn prefetch_hints_do_not_change_logits() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(dir.path());
    let with = logits(&m, &["--prefetch", "--cache-policy", "none"]);
    let without = logits(&m, &["--no-prefetch", "--cache-policy", "none"]);
    assert_eq!(with, without);
}

#[test]
fn a_cache_budget_below_one_layers_experts_is_refused_with_the_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(dir.path());
    let out = floe(&["logits", &m, "--tokens", "1,2", "--cache-budget", "1KiB"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "accepted a 1 KiB budget: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");
    assert!(stderr.contains("the minimum is"), "{stderr}");
    // The same budget is fine with the page-cache policy, which keeps nothing.
    let out = floe(&[
        "logits",
        &m,
        "--tokens",
        "1,2",
        "--cache-budget",
        "1KiB",
        "--cache-policy",
        "none",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn bad_streaming_flags_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(dir.path());
    for (flag, value, needle) in [
        ("--io-engine", "floppy", "--io-engine"),
        ("--cache-policy", "fifo", "--cache-policy"),
        ("--cache-budget", "lots", "--cache-budget"),
    ] {
        let out = floe(&["logits", &m, "--tokens", "1", flag, value]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{flag} {value} accepted");
        assert!(
            stderr.contains(needle) && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}

#[test]
fn run_stats_print_the_stream_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(dir.path());
    let out = floe(&[
        "run", &m, "--prompt", "hello", "-n", "4", "--seed", "1", "--stats",
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("expert streaming: pread"), "{stderr}");
    assert!(stderr.contains("hit rate per layer"), "{stderr}");
    assert!(stderr.contains("GB/s"), "{stderr}");
}
