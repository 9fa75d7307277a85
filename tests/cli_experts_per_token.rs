//! `--experts-per-token K` of `floe run` and `floe logits`, on the converted Mixtral fixture
//! (8 experts, 2 per token): the logits are the library's with the same option, `--stats` says
//! which K ran and where it came from, and a K above the experts is a clean error.

mod common;

use common::{floe, text};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use floe_compute::cpu::CpuBackend;
use floe_format::convert::{convert, ConvertOptions};
use floe_format::{Checkpoint, ExpertSource, PreadExpertSource};
use floe_model::{load_model_with, LoadOptions, LogitsWanted};

fn mixtral(tmp: &Path) -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/hf/mixtral");
    let out = tmp.join("mixtral");
    convert(&src, &out, &ConvertOptions::default(), &mut |_| {}).unwrap();
    out
}

#[test]
fn logits_use_k_experts_as_the_library_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = mixtral(tmp.path());
    let tokens = [332u32, 471, 258, 313, 492];
    let out = floe(&[
        "logits",
        dir.to_str().unwrap(),
        "--tokens",
        "332,471,258,313,492",
        "--experts-per-token",
        "1",
        "--threads",
        "1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let rows = json["logits"].as_array().unwrap();

    let checkpoint = Arc::new(Checkpoint::open(&dir).unwrap());
    let source: Arc<dyn ExpertSource> = Arc::new(PreadExpertSource::new(checkpoint.clone()));
    let options = LoadOptions {
        experts_per_token: Some(1),
        ..LoadOptions::default()
    };
    let backend = Arc::new(CpuBackend::new(Some(1)).unwrap());
    let model = load_model_with(checkpoint, backend, source, &options).unwrap();
    let mut state = model.new_state(tokens.len()).unwrap();
    let expected = model
        .forward(&tokens, &mut state, LogitsWanted::All)
        .unwrap();
    assert_eq!(rows.len(), tokens.len());
    for (i, row) in rows.iter().enumerate() {
        let max = expected.row(i).iter().fold(0f32, |m, x| m.max(x.abs()));
        for (a, b) in row.as_array().unwrap().iter().zip(expected.row(i)) {
            let a = a.as_f64().unwrap() as f32;
            assert!((a - b).abs() <= 1e-5 * max, "position {i}: {a} vs {b}");
        }
    }
}

#[test]
fn run_stats_report_the_experts_per_token() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = mixtral(tmp.path());
    let dir = dir.to_str().unwrap();
    let common = [
        "run",
        dir,
        "--prompt",
        "The router",
        "-n",
        "3",
        "--temp",
        "0",
        "--stats",
    ];
    let out = floe(&[&common[..], &["--experts-per-token", "1"]].concat());
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "experts per token: 1 (--experts-per-token; config.json num_experts_per_tok is 2)"
        ),
        "{stderr}"
    );
    let out = floe(&common);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("experts per token: 2 (config.json num_experts_per_tok)"),
        "{stderr}"
    );
}

#[test]
fn k_above_the_experts_is_a_clean_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = mixtral(tmp.path());
    let out = floe(&[
        "logits",
        dir.to_str().unwrap(),
        "--tokens",
        "1,2",
        "--experts-per-token",
        "9",
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("--experts-per-token") && stderr.contains("9 exceeds the 8 experts"),
        "{stderr}"
    );
}
