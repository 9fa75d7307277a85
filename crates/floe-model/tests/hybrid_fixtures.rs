//! What is particular to the hybrid GatedDeltaNet models (Qwen3-Next, Qwen3.5-MoE) on the CPU
//! backend, beyond the table-driven `hf_fixtures` tests: prefill/decode splits around the
//! convolution's kernel length (a first chunk shorter than the kernel's history, then one that
//! crosses it), a state reset and reused, a truncation that the recurrent state cannot honour,
//! a forward pass that fails part-way (its state refused until reset), and the multimodal
//! checkpoint loaded under either manifest name.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use common::{assert_matches_reference, convert_to, load_on, run_chunks, Fixture};
use floe_compute::cpu::CpuBackend;
use floe_format::convert::ConvertOptions;
use floe_format::{Checkpoint, ExpertSource, FormatError, PreadExpertSource};
use floe_model::{load_model, LoadOptions, LogitsWanted, Model};

/// `max |Δ| / max |reference|` per position against transformers' f32 logits (see
/// `hf_fixtures.rs`).
const TOLERANCE: f32 = 1e-4;

/// The hybrid fixtures: Qwen3-Next (grouped projections, 2 key / 4 value heads), the multimodal
/// Qwen3.5-MoE (bf16, 8 experts top-3) and the text-only one (4 key = 4 value heads, tied
/// embeddings, attention in the middle layer).
const HYBRID: [&str; 3] = ["qwen3_next", "qwen3_5_moe", "qwen3_5_moe_text"];

fn load(fixture: &Fixture, tmp: &std::path::Path) -> Box<dyn Model<CpuBackend>> {
    let checkpoint = convert_to(
        &fixture.dir,
        &tmp.join(&fixture.name),
        &ConvertOptions::default(),
    );
    load_on(
        checkpoint,
        Arc::new(CpuBackend::new(Some(2)).unwrap()),
        &LoadOptions::default(),
    )
}

#[test]
fn splits_around_the_convolution_kernel_match_transformers() {
    let tmp = tempfile::tempdir().unwrap();
    for name in HYBRID {
        let fixture = Fixture::read("hf", name);
        let model = load(&fixture, tmp.path());
        let t = fixture.tokens.len();
        // The kernel has 4 taps (3 rows of history): chunks of 1 and 2 leave the history partly
        // from the state, a chunk of 5 replaces it entirely.
        for (how, chunks) in [
            ("1 + 2 + 1 + rest", vec![1, 2, 1, t - 4]),
            ("2 then decode", [vec![2], vec![1; t - 2]].concat()),
            ("5 + 1 + 1 + rest", vec![5, 1, 1, t - 7]),
        ] {
            let rows = run_chunks(model.as_ref(), &fixture.tokens, &chunks);
            assert_matches_reference(&fixture, how, &rows, TOLERANCE);
        }
    }
}

#[test]
fn a_reset_state_runs_a_new_sequence_from_zero_and_truncation_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Fixture::read("hf", "qwen3_next");
    let model = load(&fixture, tmp.path());
    let tokens = &fixture.tokens;
    let mut state = model.new_state(tokens.len()).unwrap();
    model
        .forward(&tokens[5..9], &mut state, LogitsWanted::Last)
        .unwrap();
    let err = state.truncate(2).unwrap_err().to_string();
    assert!(err.contains("recurrent"), "{err}");
    assert_eq!(state.len(), 4);
    state.reset();
    let rows: Vec<Vec<f32>> = model
        .forward(tokens, &mut state, LogitsWanted::All)
        .unwrap()
        .iter_rows()
        .map(<[f32]>::to_vec)
        .collect();
    assert_matches_reference(&fixture, "after a reset", &rows, TOLERANCE);
    state.truncate(0).unwrap();
    let again = model
        .forward(&tokens[..3], &mut state, LogitsWanted::Last)
        .unwrap();
    let want = &fixture.logits[2];
    let err = common::relative_error(again.last(), want);
    assert!(err <= TOLERANCE, "after truncate(0): {err:e}");
}

#[test]
fn the_context_limit_is_an_error_and_leaves_the_state_usable() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Fixture::read("hf", "qwen3_5_moe_text");
    let model = load(&fixture, tmp.path());
    let tokens = &fixture.tokens;
    let mut state = model.new_state(8).unwrap();
    model
        .forward(&tokens[..6], &mut state, LogitsWanted::Last)
        .unwrap();
    let err = model
        .forward(&tokens[6..9], &mut state, LogitsWanted::Last)
        .unwrap_err();
    assert!(err.to_string().contains("context limit"), "{err}");
    assert_eq!(state.len(), 6);
    let next = model
        .forward(&tokens[6..8], &mut state, LogitsWanted::All)
        .unwrap();
    for (i, row) in next.iter_rows().enumerate() {
        let err = common::relative_error(row, &fixture.logits[6 + i]);
        assert!(err <= TOLERANCE, "position {}: {err:e}", 6 + i);
    }
    assert!(
        model.new_state(5000).is_err(),
        "beyond max_position_embeddings"
    );
}

#[test]
fn a_multimodal_checkpoint_loads_under_either_architecture_name() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Fixture::read("hf", "qwen3_5_moe");
    let out = tmp.path().join("converted");
    let converted = convert_to(&fixture.dir, &out, &ConvertOptions::default());
    assert_eq!(converted.arch(), "qwen3_5_moe_text");
    assert_eq!(converted.config()["model_type"], "qwen3_5_moe");
    drop(converted);
    // The same checkpoint with its manifest naming the multimodal architecture.
    let manifest_path = out.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["arch"] = "qwen3_5_moe".into();
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let checkpoint = Arc::new(Checkpoint::open(&out).unwrap());
    assert_eq!(checkpoint.arch(), "qwen3_5_moe");
    let source: Arc<dyn ExpertSource> = Arc::new(PreadExpertSource::new(checkpoint.clone()));
    let model = load_model(
        checkpoint,
        Arc::new(CpuBackend::new(Some(1)).unwrap()),
        source,
    )
    .unwrap();
    assert_eq!(model.info().arch, "qwen3_5_moe_text");
    let rows = run_chunks(model.as_ref(), &fixture.tokens, &[fixture.tokens.len()]);
    assert_matches_reference(&fixture, "as qwen3_5_moe", &rows, TOLERANCE);
}

/// Reads experts with `pread`, or fails every fetch while `failing` is set.
struct FlakySource {
    inner: PreadExpertSource,
    failing: AtomicBool,
}

impl ExpertSource for FlakySource {
    fn fetch(
        &self,
        layer: u32,
        experts: &[u32],
        on_ready: &mut dyn FnMut(usize, Bytes) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(FormatError::NotFound(format!(
                "test: layer {layer} is unreadable"
            )));
        }
        self.inner.fetch(layer, experts, on_ready)
    }
}

#[test]
fn a_forward_pass_failing_part_way_invalidates_the_state_until_reset() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Fixture::read("hf", "qwen3_next");
    let checkpoint = convert_to(
        &fixture.dir,
        &tmp.path().join("qwen3_next"),
        &ConvertOptions::default(),
    );
    let source = Arc::new(FlakySource {
        inner: PreadExpertSource::new(checkpoint.clone()),
        failing: AtomicBool::new(false),
    });
    let model = load_model(
        checkpoint,
        Arc::new(CpuBackend::new(Some(1)).unwrap()),
        source.clone(),
    )
    .unwrap();
    let tokens = &fixture.tokens;
    let mut state = model.new_state(tokens.len()).unwrap();
    model
        .forward(&tokens[..4], &mut state, LogitsWanted::Last)
        .unwrap();
    // Layer 0's GatedDeltaNet has updated its state when its experts cannot be read.
    source.failing.store(true, Ordering::SeqCst);
    assert!(model
        .forward(&tokens[4..6], &mut state, LogitsWanted::Last)
        .is_err());
    source.failing.store(false, Ordering::SeqCst);
    assert_eq!(state.len(), 4);
    let err = model
        .forward(&tokens[4..6], &mut state, LogitsWanted::Last)
        .unwrap_err()
        .to_string();
    assert!(err.contains("reset"), "{err}");
    state.reset();
    let rows = run_chunks(model.as_ref(), tokens, &[tokens.len()]);
    assert_matches_reference(&fixture, "after a failed pass", &rows, TOLERANCE);
    let logits = model
        .forward(tokens, &mut state, LogitsWanted::All)
        .unwrap();
    let rows: Vec<Vec<f32>> = logits.iter_rows().map(<[f32]>::to_vec).collect();
    assert_matches_reference(&fixture, "the reset state", &rows, TOLERANCE);
}
