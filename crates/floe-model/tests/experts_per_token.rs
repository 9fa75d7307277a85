//! `LoadOptions::experts_per_token` (`--experts-per-token K`) on the HF fixtures: the
//! configured K reproduces the default bit for bit, a decode step reads exactly K blobs per MoE
//! layer, K outside `1 ..= num_experts` is refused naming the option, and the logit divergence
//! of other K from the configured one is measured (printed with `--nocapture`). With resident
//! experts (`LoadOptions::resident_experts`) every K gives the streamed path's logits.

mod common;

use std::sync::Arc;

use common::{argmax, assert_paths_agree, convert_to, relative_error, run_chunks, Fixture};
use floe_compute::cpu::CpuBackend;
use floe_format::convert::ConvertOptions;
use floe_format::{Checkpoint, ExpertSource, PreadExpertSource};
use floe_model::{
    load_model_with, CountingExpertSource, LoadOptions, LogitsWanted, Model, ModelError,
};

/// HF fixtures with their configured K and expert count (the hybrid ones route with the same
/// block, plus a shared expert that is resident).
const FIXTURES: &[(&str, usize, usize)] = &[
    ("qwen3_moe_a", 3, 8),
    ("qwen3_moe_b", 2, 8),
    ("mixtral", 2, 8),
    ("olmoe", 2, 4),
    ("qwen3_next", 2, 4),
    ("qwen3_5_moe", 3, 8),
];

fn converted(name: &str, tmp: &std::path::Path) -> (Fixture, Arc<Checkpoint>) {
    let fixture = Fixture::read("hf", name);
    let checkpoint = convert_to(&fixture.dir, &tmp.join(name), &ConvertOptions::default());
    (fixture, checkpoint)
}

/// A model and the counter of the expert blobs it reads.
type Counted = (Box<dyn Model<CpuBackend>>, Arc<CountingExpertSource>);

fn load(checkpoint: &Arc<Checkpoint>, k: Option<usize>) -> Result<Counted, ModelError> {
    load_with(checkpoint, k, false)
}

fn load_with(
    checkpoint: &Arc<Checkpoint>,
    k: Option<usize>,
    resident_experts: bool,
) -> Result<Counted, ModelError> {
    let source: Arc<dyn ExpertSource> = Arc::new(PreadExpertSource::new(checkpoint.clone()));
    let traffic = Arc::new(CountingExpertSource::new(source));
    let model = load_model_with(
        checkpoint.clone(),
        Arc::new(CpuBackend::new(Some(2)).unwrap()),
        traffic.clone(),
        &LoadOptions {
            experts_per_token: k,
            resident_experts,
        },
    )?;
    Ok((model, traffic))
}

#[test]
fn the_configured_k_reproduces_the_default_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    for &(name, k, _) in FIXTURES {
        let (fixture, checkpoint) = converted(name, tmp.path());
        let t = fixture.tokens.len();
        let (default, _) = load(&checkpoint, None).unwrap();
        let (explicit, _) = load(&checkpoint, Some(k)).unwrap();
        assert_eq!(
            run_chunks(default.as_ref(), &fixture.tokens, &[t]),
            run_chunks(explicit.as_ref(), &fixture.tokens, &[t]),
            "{name}: K = {k} given explicitly"
        );
    }
}

#[test]
fn a_decode_step_reads_k_experts_per_moe_layer() {
    let tmp = tempfile::tempdir().unwrap();
    for &(name, _, experts) in FIXTURES {
        let (fixture, checkpoint) = converted(name, tmp.path());
        for k in [1, experts] {
            let (model, traffic) = load(&checkpoint, Some(k)).unwrap();
            let sparse = model.info().sparse_layers as u64;
            let mut state = model.new_state(4).unwrap();
            model
                .forward(&fixture.tokens[..3], &mut state, LogitsWanted::Last)
                .unwrap();
            let before = traffic.traffic();
            model
                .forward(&fixture.tokens[3..4], &mut state, LogitsWanted::Last)
                .unwrap();
            let blobs = traffic.traffic().since(&before).blobs;
            assert_eq!(blobs, k as u64 * sparse, "{name}: K = {k}");
        }
    }
}

#[test]
fn k_outside_the_experts_is_refused_naming_the_option() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, checkpoint) = converted("olmoe", tmp.path());
    for k in [0, 5] {
        match load(&checkpoint, Some(k)) {
            Err(ModelError::Argument { name, message }) => {
                assert_eq!(name, "experts_per_token", "{message}");
            }
            Err(e) => panic!("K = {k}: unexpected error {e}"),
            Ok(_) => panic!("K = {k} was accepted for 4 experts"),
        }
    }
    assert!(load(&checkpoint, Some(4)).is_ok());
}

/// How far the logits with `k` experts per token are from those with the configured number.
struct Divergence {
    top1_agree: usize,
    median_relative: f32,
    max_relative: f32,
}

fn divergence(configured: &[Vec<f32>], other: &[Vec<f32>]) -> Divergence {
    let mut errors: Vec<f32> = configured
        .iter()
        .zip(other)
        .map(|(c, o)| relative_error(o, c))
        .collect();
    errors.sort_by(f32::total_cmp);
    Divergence {
        top1_agree: configured
            .iter()
            .zip(other)
            .filter(|(c, o)| argmax(c) == argmax(o))
            .count(),
        median_relative: errors[errors.len() / 2],
        max_relative: errors[errors.len() - 1],
    }
}

// `cargo test -p floe-model --test experts_per_token -- --nocapture` prints, per fixture and K,
// top-1 agreement with the configured K over the 16 reference positions and the per-position
// max |Δ| / max |configured| (median and max). Every K other than the configured one changes
// which experts contribute, so the logits must move by far more than f32 noise (> 1e-3).
#[test]
fn other_k_diverge_from_the_configured_k() {
    let tmp = tempfile::tempdir().unwrap();
    for &(name, configured_k, experts) in FIXTURES {
        let (fixture, checkpoint) = converted(name, tmp.path());
        let t = fixture.tokens.len();
        let (model, _) = load(&checkpoint, None).unwrap();
        let configured = run_chunks(model.as_ref(), &fixture.tokens, &[t]);
        for k in (1..=experts).filter(|&k| k != configured_k) {
            let (model, _) = load(&checkpoint, Some(k)).unwrap();
            let rows = run_chunks(model.as_ref(), &fixture.tokens, &[t]);
            let d = divergence(&configured, &rows);
            eprintln!(
                "{name}: K = {k} vs configured {configured_k}: top-1 agrees {}/{t}; max |Δ| / max |configured| median {:.3}, max {:.3}",
                d.top1_agree, d.median_relative, d.max_relative
            );
            assert!(
                d.max_relative > 1e-3,
                "{name}: K = {k} gives the configured K's logits: the override is not applied"
            );
        }
    }
}

#[test]
fn resident_experts_follow_the_override_like_streamed_ones() {
    let tmp = tempfile::tempdir().unwrap();
    for &(name, configured_k, experts) in FIXTURES {
        let (fixture, checkpoint) = converted(name, tmp.path());
        let t = fixture.tokens.len();
        let mut by_k = Vec::new();
        for k in [1, configured_k, experts] {
            let (streamed, _) = load_with(&checkpoint, Some(k), false).unwrap();
            let (resident, traffic) = load_with(&checkpoint, Some(k), true).unwrap();
            let loaded = traffic.traffic();
            for (how, chunks) in [
                ("prefill", vec![t]),
                ("prefill 4 then decode", {
                    let mut c = vec![4];
                    c.extend(std::iter::repeat_n(1, t - 4));
                    c
                }),
            ] {
                let want = run_chunks(streamed.as_ref(), &fixture.tokens, &chunks);
                let got = run_chunks(resident.as_ref(), &fixture.tokens, &chunks);
                assert_paths_agree(
                    &fixture,
                    &format!("K = {k}, resident vs streamed, {how}"),
                    &got,
                    &want,
                    1e-5,
                );
                if how == "prefill" {
                    by_k.push(got);
                }
            }
            assert_eq!(
                traffic.traffic().since(&loaded).blobs,
                0,
                "{name}: K = {k}: resident experts were fetched after loading"
            );
        }
        // The override reaches the resident path: K = 1 and K = all move its logits.
        for (i, k) in [(0, 1), (2, experts)] {
            let d = divergence(&by_k[1], &by_k[i]);
            assert!(
                d.max_relative > 1e-3,
                "{name}: resident K = {k} gives the configured K's logits"
            );
        }
    }
}
