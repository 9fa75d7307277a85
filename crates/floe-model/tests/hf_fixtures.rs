//! The acceptance tests of the Qwen3-MoE implementation: every HF Qwen3-MoE fixture
//! (`fixtures/hf/qwen3_moe_*`, made by transformers) is converted with floe-format's converter and
//! run on the CPU backend; every position's logits must be within 1e-4 × max|reference| of
//! transformers' f32 logits, through one prefill of all tokens, token-by-token decode, and mixed
//! prefill-then-decode splits. Quantized experts (q8_0, q4) are measured against the f32 path.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use floe_compute::cpu::CpuBackend;
use floe_format::convert::{convert, ConvertOptions};
use floe_format::{Checkpoint, ExpertSource, PreadExpertSource};
use floe_model::{load_model, Logits, LogitsWanted, Model};
use floe_quant::QuantFormat;
use serde_json::Value;

struct Fixture {
    name: String,
    dir: PathBuf,
    tokens: Vec<u32>,
    /// `tokens.len()` rows of vocabulary logits.
    logits: Vec<Vec<f32>>,
}

/// Every `fixtures/hf/*` whose `config.json` is `qwen3_moe`.
fn fixtures() -> Vec<Fixture> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hf");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(config) = std::fs::read_to_string(dir.join("config.json")) else {
            continue;
        };
        let config: Value = serde_json::from_str(&config).unwrap();
        if config["model_type"] != "qwen3_moe" {
            continue;
        }
        let reference: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
                .unwrap();
        let tokens = reference["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_u64().unwrap() as u32)
            .collect();
        let logits = reference["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect();
        found.push(Fixture {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            dir,
            tokens,
            logits,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    // qwen3_moe_a (GQA, a dense layer), _b (bf16, tied, sparse step 2), _c (legacy per-expert).
    assert!(
        found.len() >= 3,
        "expected at least 3 qwen3_moe fixtures in {}",
        root.display()
    );
    found
}

fn load(src: &Path, out: &Path, expert_format: Option<QuantFormat>) -> Box<dyn Model<CpuBackend>> {
    let options = ConvertOptions {
        expert_format,
        ..ConvertOptions::default()
    };
    convert(src, out, &options, &mut |_| {})
        .unwrap_or_else(|e| panic!("converting {}: {e}", src.display()));
    let checkpoint = Arc::new(Checkpoint::open(out).unwrap());
    let source: Arc<dyn ExpertSource> = Arc::new(PreadExpertSource::new(checkpoint.clone()));
    load_model(
        checkpoint,
        Arc::new(CpuBackend::new(Some(2)).unwrap()),
        source,
    )
    .unwrap()
}

fn max_abs(row: &[f32]) -> f32 {
    row.iter().fold(0f32, |m, x| m.max(x.abs()))
}

/// max |a − b| / max |b|.
fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
        / max_abs(b)
}

fn argmax(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
}

/// Runs `tokens` in chunks of the given sizes (summing to the whole), returning every
/// position's logits.
fn run_chunks(model: &dyn Model<CpuBackend>, tokens: &[u32], chunks: &[usize]) -> Vec<Vec<f32>> {
    assert_eq!(chunks.iter().sum::<usize>(), tokens.len());
    let mut state = model.new_state(tokens.len()).unwrap();
    let mut rows = Vec::new();
    let mut at = 0;
    for &n in chunks {
        let logits: Logits = model
            .forward(&tokens[at..at + n], &mut state, LogitsWanted::All)
            .unwrap();
        rows.extend(logits.iter_rows().map(<[f32]>::to_vec));
        at += n;
    }
    assert_eq!(state.len(), tokens.len());
    rows
}

fn assert_matches_reference(fixture: &Fixture, how: &str, rows: &[Vec<f32>]) {
    assert_eq!(rows.len(), fixture.logits.len());
    let mut worst = 0f32;
    for (i, (row, reference)) in rows.iter().zip(&fixture.logits).enumerate() {
        let err = relative_error(row, reference);
        worst = worst.max(err);
        assert!(
            err <= 1e-4,
            "{} ({how}): position {i}: max |Δ| / max |ref| = {err:.3e} > 1e-4",
            fixture.name
        );
    }
    eprintln!(
        "{} ({how}): worst position max |Δ| / max |ref| = {worst:.2e}",
        fixture.name
    );
}

#[test]
fn f32_logits_match_transformers_through_prefill_decode_and_mixed_splits() {
    let tmp = tempfile::tempdir().unwrap();
    for fixture in fixtures() {
        let model = load(&fixture.dir, &tmp.path().join(&fixture.name), None);
        let t = fixture.tokens.len();
        assert_eq!(model.info().vocab_size, fixture.logits[0].len());
        assert_matches_reference(
            &fixture,
            "prefill",
            &run_chunks(model.as_ref(), &fixture.tokens, &[t]),
        );
        assert_matches_reference(
            &fixture,
            "decode",
            &run_chunks(model.as_ref(), &fixture.tokens, &vec![1; t]),
        );
        let mut mixed = vec![7];
        mixed.extend(std::iter::repeat_n(1, t - 7));
        assert_matches_reference(
            &fixture,
            "prefill 7 then decode",
            &run_chunks(model.as_ref(), &fixture.tokens, &mixed),
        );
        assert_matches_reference(
            &fixture,
            "chunks 3+6+rest",
            &run_chunks(model.as_ref(), &fixture.tokens, &[3, 6, t - 9]),
        );
    }
}

/// Quantization error of the experts against the f32 path on the same fixture.
struct QuantError {
    top1_agree: usize,
    positions: usize,
    median_relative: f32,
    max_relative: f32,
}

fn measure(
    fixture: &Fixture,
    exact: &[Vec<f32>],
    quant: &[Vec<f32>],
    format: QuantFormat,
) -> QuantError {
    let t = exact.len();
    let top1_agree = exact
        .iter()
        .zip(quant)
        .filter(|(a, b)| argmax(a) == argmax(b))
        .count();
    let mut errors: Vec<f32> = exact
        .iter()
        .zip(quant)
        .map(|(e, q)| relative_error(q, e))
        .collect();
    errors.sort_by(f32::total_cmp);
    let (median_relative, max_relative) = (errors[t / 2], errors[t - 1]);
    eprintln!(
        "{} experts {format}: top-1 agrees on {top1_agree}/{t} positions; max |Δ| / max |f32| per position: median {median_relative:.4}, max {max_relative:.4}",
        fixture.name
    );
    QuantError {
        top1_agree,
        positions: t,
        median_relative,
        max_relative,
    }
}

// Measured with `cargo test -p floe-model --test hf_fixtures -- --nocapture` (16 positions per
// fixture; relative error = max |Δ| / max |f32 logit| of a position):
//   q8_0: top-1 agrees 15/16 (a), 16/16 (b), 16/16 (c); median 0.0101 / 0.0057 / 0.0101,
//         max 0.0151 / 0.0076 / 0.0157.
//   q4:   top-1 agrees 12/16 (a), 14/16 (b), 12/16 (c); median 0.152 / 0.094 / 0.183,
//         max 0.427 / 0.152 / 0.274.
// These random tiny models have nearly flat logits and router margins of ~1e-3, so a small
// weight error can flip a routing decision or the top token; the bounds leave a margin over the
// worst fixture and still fail by far for a wrong kernel or layout (top-1 near 1/512, errors ≥ 1).
#[test]
fn quantized_experts_stay_close_to_the_f32_path() {
    let tmp = tempfile::tempdir().unwrap();
    for fixture in fixtures() {
        let t = fixture.tokens.len();
        let f32_model = load(
            &fixture.dir,
            &tmp.path().join(format!("{}-f32", fixture.name)),
            None,
        );
        let exact = run_chunks(f32_model.as_ref(), &fixture.tokens, &[t]);
        for (format, min_agree, max_median, max_relative) in [
            (QuantFormat::Q8_0, 0.875, 0.02, 0.03),
            (QuantFormat::Q4, 0.625, 0.3, 0.6),
        ] {
            let q_model = load(
                &fixture.dir,
                &tmp.path().join(format!("{}-{format}", fixture.name)),
                Some(format),
            );
            let quant = run_chunks(q_model.as_ref(), &fixture.tokens, &[t]);
            let e = measure(&fixture, &exact, &quant, format);
            let agree = e.top1_agree as f64 / e.positions as f64;
            assert!(
                agree >= min_agree,
                "{} {format}: top-1 agreement {agree:.2} < {min_agree}",
                fixture.name
            );
            assert!(
                e.median_relative <= max_median,
                "{} {format}: median relative error {} > {max_median}",
                fixture.name,
                e.median_relative
            );
            assert!(
                e.max_relative <= max_relative,
                "{} {format}: max relative error {} > {max_relative}",
                fixture.name,
                e.max_relative
            );
        }
    }
}

#[test]
fn other_architectures_are_refused_with_the_supported_list() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hf/mixtral");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mixtral");
    convert(&root, &out, &ConvertOptions::default(), &mut |_| {}).unwrap();
    let checkpoint = Arc::new(Checkpoint::open(&out).unwrap());
    let source: Arc<dyn ExpertSource> = Arc::new(PreadExpertSource::new(checkpoint.clone()));
    let err = load_model(
        checkpoint,
        Arc::new(CpuBackend::new(Some(1)).unwrap()),
        source,
    )
    .err()
    .unwrap();
    let message = err.to_string();
    assert!(
        message.contains("mixtral") && message.contains("supported: qwen3_moe"),
        "{message}"
    );
}
