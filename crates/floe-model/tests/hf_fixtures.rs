//! The acceptance tests of floe's architectures against Hugging Face transformers: every HF
//! fixture of an architecture floe implements (`fixtures/hf/*`, made by transformers 5.24) is
//! converted with floe-format's converter and run on the CPU backend; every position's logits
//! must be within 1e-4 × max|reference| of transformers' f32 logits, through one prefill of all
//! tokens, token-by-token decode, and mixed prefill-then-decode splits, both with routed experts
//! streamed and with them resident (`LoadOptions::resident_experts`, selected on the device),
//! whose logits must also agree with the streamed ones within 1e-5 × max|reference|. Quantized
//! experts (q8_0, q4) are measured against the f32 path, and resident against streamed.

mod common;

use std::sync::Arc;

use common::{
    argmax, assert_paths_agree, assert_resident_matches_streamed, convert_to, expert_paths,
    load_on, relative_error, run_chunks, supported_fixtures, Fixture,
};
use floe_compute::cpu::CpuBackend;
use floe_format::convert::ConvertOptions;
use floe_format::{Checkpoint, CheckpointWriter, ExpertSource, PreadExpertSource};
use floe_model::{load_model, LoadOptions};
use floe_quant::QuantFormat;
use serde_json::json;

/// The tolerance of f32 logits against transformers': `max |Δ| / max |reference|` per position.
const TOLERANCE: f32 = 1e-4;

/// How close resident experts' logits must be to streamed ones: `max |Δ| / max |reference|` per
/// position. Both paths run the same CPU kernels on the same bytes; only the order in which a
/// token's expert outputs are summed differs (routing weight order against expert id order).
const RESIDENT_AGREEMENT: f32 = 1e-5;

/// One `#[test]` per HF fixture directory, and the table [`HF_FIXTURES`] of them. To test a
/// new architecture's fixture, add its directory name here (one line).
macro_rules! hf_fixture_tests {
    ($($name:ident),* $(,)?) => {
        /// Every HF fixture these tests run.
        const HF_FIXTURES: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                f32_logits_match_transformers(stringify!($name));
            }
        )*
    };
}

hf_fixture_tests! {
    qwen3_moe_a,
    qwen3_moe_b,
    qwen3_moe_c,
    mixtral,
    olmoe,
    qwen3_next,
    qwen3_5_moe,
    qwen3_5_moe_text,
}

fn cpu(threads: usize) -> Arc<CpuBackend> {
    Arc::new(CpuBackend::new(Some(threads)).unwrap())
}

/// Converts `fixture` into `tmp`, experts stored as `expert_format` (`None`: as in the source).
fn convert_fixture(
    fixture: &Fixture,
    tmp: &std::path::Path,
    expert_format: Option<QuantFormat>,
) -> Arc<Checkpoint> {
    let suffix = expert_format.map_or("f32".to_string(), |f| f.to_string());
    let options = ConvertOptions {
        expert_format,
        ..ConvertOptions::default()
    };
    convert_to(
        &fixture.dir,
        &tmp.join(format!("{}-{suffix}", fixture.name)),
        &options,
    )
}

fn f32_logits_match_transformers(name: &str) {
    let fixture = Fixture::read("hf", name);
    let tmp = tempfile::tempdir().unwrap();
    let checkpoint = convert_fixture(&fixture, tmp.path(), None);
    let backend = cpu(2);
    let [streamed, resident] =
        expert_paths().map(|(_, options)| load_on(checkpoint.clone(), backend.clone(), &options));
    assert_resident_matches_streamed(
        &fixture,
        streamed.as_ref(),
        resident.as_ref(),
        TOLERANCE,
        RESIDENT_AGREEMENT,
    );
}

#[test]
fn every_supported_hf_fixture_is_tested() {
    for name in supported_fixtures("hf") {
        assert!(
            HF_FIXTURES.contains(&name.as_str()),
            "fixtures/hf/{name} is an architecture floe implements: add it to hf_fixture_tests!"
        );
    }
    for arch in ["qwen3_moe", "mixtral", "olmoe"] {
        assert!(
            HF_FIXTURES.iter().any(|name| common::fixture_arch(
                &common::fixtures_root().join("hf").join(name)
            )
            .as_deref()
                == Some(arch)),
            "no HF fixture of {arch} is tested"
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
    for name in ["qwen3_moe_a", "qwen3_moe_b", "qwen3_moe_c"] {
        let fixture = Fixture::read("hf", name);
        let t = fixture.tokens.len();
        let checkpoint = convert_fixture(&fixture, tmp.path(), None);
        let f32_model = load_on(checkpoint, cpu(2), &LoadOptions::default());
        let exact = run_chunks(f32_model.as_ref(), &fixture.tokens, &[t]);
        for (format, min_agree, max_median, max_relative) in [
            (QuantFormat::Q8_0, 0.875, 0.02, 0.03),
            (QuantFormat::Q4, 0.625, 0.3, 0.6),
        ] {
            let checkpoint = convert_fixture(&fixture, tmp.path(), Some(format));
            let [quant, resident] = expert_paths().map(|(_, options)| {
                let model = load_on(checkpoint.clone(), cpu(2), &options);
                run_chunks(model.as_ref(), &fixture.tokens, &[t])
            });
            assert_paths_agree(
                &fixture,
                &format!("{format} experts resident vs streamed"),
                &resident,
                &quant,
                RESIDENT_AGREEMENT,
            );
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
    let tmp = tempfile::tempdir().unwrap();
    let config = json!({"model_type": "llama", "hidden_size": 64});
    let mut writer =
        CheckpointWriter::create(&tmp.path().join("llama"), "llama", config, false).unwrap();
    let norm: Vec<u8> = [1f32; 64].iter().flat_map(|v| v.to_le_bytes()).collect();
    writer
        .write_dense("model.norm.weight", &[64], QuantFormat::F32, &norm)
        .unwrap();
    let out = writer.finish(json!({})).unwrap();
    let checkpoint = Arc::new(Checkpoint::open(&out).unwrap());
    let source: Arc<dyn ExpertSource> = Arc::new(PreadExpertSource::new(checkpoint.clone()));
    let message = load_model(checkpoint, cpu(1), source)
        .err()
        .unwrap()
        .to_string();
    assert!(message.contains("'llama'"), "{message}");
    for arch in floe_model::supported_architectures() {
        assert!(message.contains(arch), "{message}");
    }
}
