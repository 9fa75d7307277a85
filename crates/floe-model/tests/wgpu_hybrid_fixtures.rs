//! The hybrid GatedDeltaNet fixtures (Qwen3-Next, Qwen3.5-MoE, HF and MLX q4) on the wgpu
//! backend: each is converted and run end to end through `floe_wgpu::WgpuBackend` (any adapter,
//! software ones such as lavapipe included); every position's logits must be within
//! 1e-3 × max|reference| of the reference library's f32 logits through one prefill,
//! token-by-token decode, mixed splits, and a first chunk shorter than the convolution's
//! history; each with routed experts streamed and resident on the device
//! (`LoadOptions::resident_experts`). Without an adapter the tests print a notice and pass, unless `FLOE_REQUIRE_GPU=1`,
//! which makes them fail.

mod common;

use common::wgpu::backend;
use common::Fixture;
use common::{
    assert_all_splits_match, assert_matches_reference, convert_to, expert_paths, load_on,
    run_chunks,
};
use floe_format::convert::ConvertOptions;

/// The tolerance against the reference's f32 logits: `max |Δ| / max |reference|` per position
/// (the GPU kernels sum in other orders than the CPU backend, whose bound is 1e-4).
const TOLERANCE: f32 = 1e-3;

/// One `#[test]` per fixture: `test_name: "group", "directory"`.
macro_rules! wgpu_hybrid_tests {
    ($($test:ident: $group:literal, $dir:literal);* $(;)?) => {
        $(
            #[test]
            fn $test() {
                logits_match_on_wgpu($group, $dir);
            }
        )*
    };
}

wgpu_hybrid_tests! {
    qwen3_next: "hf", "qwen3_next";
    qwen3_5_moe: "hf", "qwen3_5_moe";
    qwen3_5_moe_text: "hf", "qwen3_5_moe_text";
    qwen3_next_q4: "mlx-models", "qwen3_next-q4";
    qwen3_5_moe_q4: "mlx-models", "qwen3_5_moe-q4";
}

fn logits_match_on_wgpu(group: &str, name: &str) {
    let Some(backend) = backend() else {
        return;
    };
    let fixture = Fixture::read(group, name);
    let tmp = tempfile::tempdir().unwrap();
    let checkpoint = convert_to(
        &fixture.dir,
        &tmp.path().join(name),
        &ConvertOptions::default(),
    );
    let t = fixture.tokens.len();
    for (path, options) in expert_paths() {
        eprintln!("{name}: experts {path}");
        let model = load_on(checkpoint.clone(), backend.clone(), &options);
        assert_all_splits_match(&fixture, model.as_ref(), TOLERANCE);
        let rows = run_chunks(model.as_ref(), &fixture.tokens, &[2, 1, 1, t - 4]);
        let how = format!("experts {path}, 2 + 1 + 1 + rest");
        assert_matches_reference(&fixture, &how, &rows, TOLERANCE);
    }
}
