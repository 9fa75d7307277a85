//! The LM-head rule in the hybrid models: with `tie_word_embeddings` set in config.json but an
//! `lm_head.weight` stored (different from the embedding table), transformers 5.24 uses the
//! stored head, and so does floe. `tests/data/qwen3_next_tied_with_stored_head.json` (made by
//! `tests/data/make_variant_references.py`) holds transformers' f32 logits for the Qwen3-Next
//! fixture with that config; it is run on the CPU backend through prefill, decode and mixed
//! splits within 1e-4 × max|reference|.

mod common;

use std::sync::Arc;

use common::{assert_all_splits_match, convert_to, load_on, variant_fixture};
use floe_compute::cpu::CpuBackend;
use floe_format::convert::ConvertOptions;
use floe_model::LoadOptions;

const TOLERANCE: f32 = 1e-4;

#[test]
fn qwen3_next_tied_with_stored_head_uses_the_stored_head() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = variant_fixture("qwen3_next_tied_with_stored_head", tmp.path());
    let checkpoint = convert_to(
        &fixture.dir,
        &tmp.path().join("floe"),
        &ConvertOptions::default(),
    );
    let model = load_on(
        checkpoint,
        Arc::new(CpuBackend::new(Some(2)).unwrap()),
        &LoadOptions::default(),
    );
    assert_all_splits_match(&fixture, model.as_ref(), TOLERANCE);
}
