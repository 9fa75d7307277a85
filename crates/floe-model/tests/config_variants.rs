//! Config settings no fixture uses, checked against transformers: Mixtral with a
//! `sliding_window` shorter than the sequence, OLMoE with an active `clip_qkv`, Mixtral with
//! tied embeddings and no stored `lm_head.weight`, and OLMoE with tied embeddings in the config
//! but a stored (different) LM head, which transformers uses (and Qwen3-MoE likewise). Each
//! `tests/data/<variant>.json` (made by `tests/data/make_variant_references.py`) holds the
//! config overrides (and tensors to drop) and transformers' f32 logits for the HF fixture with
//! them; the fixture is copied with its `config.json` patched, converted, and run on the CPU backend through
//! prefill, decode and mixed splits within 1e-4 × max|reference|.

mod common;

use std::sync::Arc;

use common::{assert_all_splits_match, convert_to, load_on, variant_fixture};
use floe_compute::cpu::CpuBackend;
use floe_format::convert::ConvertOptions;
use floe_model::LoadOptions;

const TOLERANCE: f32 = 1e-4;

fn variant_matches_transformers(variant: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = variant_fixture(variant, tmp.path());
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

#[test]
fn mixtral_sliding_window_4() {
    variant_matches_transformers("mixtral_sliding_window_4");
}

#[test]
fn olmoe_clip_qkv() {
    variant_matches_transformers("olmoe_clip_qkv_0.5");
}

#[test]
fn mixtral_tied_embeddings() {
    variant_matches_transformers("mixtral_tied_embeddings");
}

#[test]
fn olmoe_tied_with_stored_head() {
    variant_matches_transformers("olmoe_tied_with_stored_head");
}

#[test]
fn qwen3_moe_tied_with_stored_head() {
    variant_matches_transformers("qwen3_moe_tied_with_stored_head");
}
