//! The HF fixtures on the wgpu backend: every fixture of Qwen3-MoE, Mixtral and OLMoE is
//! converted and run through `floe_wgpu::WgpuBackend` (any adapter, software ones such as
//! lavapipe included) end to end; every position's logits must be within 1e-3 × max|reference|
//! of transformers' f32 logits through one prefill, token-by-token decode and mixed splits; so
//! must the config variants of `tests/data` (sliding window, `clip_qkv`). Each runs twice: with
//! routed experts streamed, and resident on the device (`LoadOptions::resident_experts`:
//! `route_topk` / `matmul_selected` / `combine_selected`, no readback per layer).
//! Without an adapter the tests print a notice and pass, unless `FLOE_REQUIRE_GPU=1`, which
//! makes them fail.

mod common;

use common::wgpu::backend;
use common::{
    assert_all_splits_match, convert_to, expert_paths, load_on, variant_fixture, Fixture,
};
use floe_format::convert::ConvertOptions;

/// The tolerance against transformers' f32 logits: `max |Δ| / max |reference|` per position.
/// The GPU kernels reduce in a different order (and may use subgroup sums), so this is looser
/// than the CPU tests' 1e-4.
const TOLERANCE: f32 = 1e-3;

/// One `#[test]` per HF fixture run on wgpu. Add a line for each new architecture the wgpu
/// backend can run.
macro_rules! wgpu_fixture_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                logits_match_transformers_on_wgpu(stringify!($name));
            }
        )*
    };
}

wgpu_fixture_tests! {
    qwen3_moe_a,
    qwen3_moe_b,
    qwen3_moe_c,
    mixtral,
    olmoe,
}

/// The config variants of `tests/data` (Mixtral's sliding window and tied embeddings, OLMoE's
/// `clip_qkv`) on wgpu.
#[test]
fn config_variants() {
    let Some(backend) = backend() else {
        return;
    };
    for variant in [
        "mixtral_sliding_window_4",
        "olmoe_clip_qkv_0.5",
        "mixtral_tied_embeddings",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let fixture = variant_fixture(variant, tmp.path());
        let checkpoint = convert_to(
            &fixture.dir,
            &tmp.path().join("floe"),
            &ConvertOptions::default(),
        );
        for (path, options) in expert_paths() {
            eprintln!("{variant}: experts {path}");
            let model = load_on(checkpoint.clone(), backend.clone(), &options);
            assert_all_splits_match(&fixture, model.as_ref(), TOLERANCE);
        }
    }
}

fn logits_match_transformers_on_wgpu(name: &str) {
    let Some(backend) = backend() else {
        return;
    };
    let fixture = Fixture::read("hf", name);
    let tmp = tempfile::tempdir().unwrap();
    let checkpoint = convert_to(
        &fixture.dir,
        &tmp.path().join(name),
        &ConvertOptions::default(),
    );
    for (path, options) in expert_paths() {
        eprintln!("{name}: experts {path}");
        let model = load_on(checkpoint.clone(), backend.clone(), &options);
        assert_all_splits_match(&fixture, model.as_ref(), TOLERANCE);
    }
}
