//! MLX-checkpoint import: every MLX-quantized fixture of an architecture floe implements
//! (`fixtures/mlx-models/*`, made by mlx-lm 0.32) is converted with floe-format's converter,
//! keeping MLX's affine 4/2-bit weights (and 8-bit routers) byte for byte, and run on the CPU
//! backend; its logits are compared with mlx-lm's, which are f32 math on the same quantized
//! weights, through one prefill, token-by-token decode and mixed splits, with routed experts both
//! streamed and resident (`LoadOptions::resident_experts`: the quantized experts as device-side
//! stacks), whose logits must agree within 1e-5 × max|reference|.

mod common;

use std::sync::Arc;

use common::{
    assert_resident_matches_streamed, convert_to, expert_paths, load_on, supported_fixtures,
    Fixture,
};
use floe_compute::cpu::CpuBackend;
use floe_format::convert::ConvertOptions;

/// The tolerance against mlx-lm's f32 logits for attention-only models: `max |Δ| / max
/// |reference|` per position. floe decodes the same quantized bytes to the same f32 values and
/// computes in f32 like the reference, so only summation order and fused kernels differ: measured
/// worst positions (`cargo test -p floe-model --test mlx_fixtures -- --nocapture`) are 1.2–2.8e-6
/// (qwen3_moe_a-q4), 1.5–2.3e-6 (-q2), 1.7–3.2e-6 (mixtral-q4), 0.9–1.7e-6 (olmoe-q4) over the
/// four splits. 2e-5 leaves a 6× margin and is still 5× tighter than the HF tests' 1e-4; a
/// wrong group size, nibble order or scale/bias plane moves logits by whole units.
const ATTENTION_TOLERANCE: f32 = 2e-5;

/// The tolerance for the hybrid GatedDeltaNet models (Qwen3-Next, Qwen3.5-MoE): their
/// recurrences run longer f32 chains (floe's token-by-token delta rule against mlx-lm's), measured
/// worst positions 6.9–9.8e-6 (qwen3_next-q4) and 4.6–5.2e-6 (qwen3_5_moe-q4) over the four
/// splits; 5e-5 leaves a 5× margin.
const HYBRID_TOLERANCE: f32 = 5e-5;

/// How close resident experts' logits must be to streamed ones (`max |Δ| / max |reference|`
/// per position): the same kernels on the same bytes, summed in another order.
const RESIDENT_AGREEMENT: f32 = 1e-5;

/// One `#[test]` per MLX fixture (`test_name: "directory", tolerance`), and the table
/// [`MLX_FIXTURES`] of them. To test a new architecture's MLX fixture, add one line here.
macro_rules! mlx_fixture_tests {
    ($($test:ident: $dir:literal, $tolerance:expr);* $(;)?) => {
        /// Every MLX fixture these tests run.
        const MLX_FIXTURES: &[&str] = &[$($dir),*];
        $(
            #[test]
            fn $test() {
                logits_match_mlx($dir, $tolerance);
            }
        )*
    };
}

mlx_fixture_tests! {
    qwen3_moe_a_q4: "qwen3_moe_a-q4", ATTENTION_TOLERANCE;
    qwen3_moe_a_q2: "qwen3_moe_a-q2", ATTENTION_TOLERANCE;
    mixtral_q4: "mixtral-q4", ATTENTION_TOLERANCE;
    olmoe_q4: "olmoe-q4", ATTENTION_TOLERANCE;
    qwen3_next_q4: "qwen3_next-q4", HYBRID_TOLERANCE;
    qwen3_5_moe_q4: "qwen3_5_moe-q4", HYBRID_TOLERANCE;
}

fn logits_match_mlx(name: &str, tolerance: f32) {
    let fixture = Fixture::read("mlx-models", name);
    let tmp = tempfile::tempdir().unwrap();
    let checkpoint = convert_to(
        &fixture.dir,
        &tmp.path().join(name),
        &ConvertOptions::default(),
    );
    let backend = Arc::new(CpuBackend::new(Some(2)).unwrap());
    let [streamed, resident] =
        expert_paths().map(|(_, options)| load_on(checkpoint.clone(), backend.clone(), &options));
    assert_resident_matches_streamed(
        &fixture,
        streamed.as_ref(),
        resident.as_ref(),
        tolerance,
        RESIDENT_AGREEMENT,
    );
}

#[test]
fn every_supported_mlx_fixture_is_tested() {
    for name in supported_fixtures("mlx-models") {
        assert!(
            MLX_FIXTURES.contains(&name.as_str()),
            "fixtures/mlx-models/{name} is an architecture floe implements: add it to mlx_fixture_tests!"
        );
    }
}
