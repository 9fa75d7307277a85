//! The expert cache in GPU memory: a resident expert matrix is not uploaded again, the budget
//! and policy evict, an expert in use is never evicted, and a key reused for a different weight
//! is an error. Results through the cache equal the uncached ones.

mod common;

use floe_compute::conformance::{formats, Case};
use floe_compute::{Backend, ComputeError, ExpertPart, ExpertWeightKey, WeightData};
use floe_quant::QuantFormat;
use floe_wgpu::{PolicyKind, WgpuBackend, WgpuOptions};

const ROWS: usize = 8;
const COLS: usize = 64;

fn key(layer: u32, expert: u32, part: ExpertPart) -> ExpertWeightKey {
    ExpertWeightKey {
        layer,
        expert,
        part,
    }
}

fn weight(case: &mut Case) -> WeightData {
    let format: QuantFormat = "q4".parse().unwrap();
    formats::random_weight(case, format, ROWS, COLS).data
}

/// `x · wᵀ` on the backend.
fn product(b: &WgpuBackend, w: &floe_wgpu::WgpuWeight, xs: &[f32]) -> Vec<f32> {
    let x = b.upload(xs, 1, COLS).unwrap();
    b.download(&b.matmul(&x, w).unwrap()).unwrap()
}

fn backend(budget: u64) -> Option<WgpuBackend> {
    common::open(WgpuOptions {
        expert_cache_bytes: budget,
        expert_cache_policy: PolicyKind::Lru,
        ..WgpuOptions::default()
    })
}

#[test]
fn a_resident_expert_is_not_uploaded_again_and_gives_the_same_result() {
    let Some(b) = backend(1 << 20) else { return };
    let mut case = Case::new("expert cache hits");
    let data = weight(&mut case);
    let xs = case.values(COLS, -1.0, 1.0);
    let plain = product(&b, &b.weight(data.clone()).unwrap(), &xs);
    let k = key(3, 7, ExpertPart::Up);
    let first = product(&b, &b.expert_weight(k, data.clone()).unwrap(), &xs);
    // Through a shared reference (`impl Backend for &WgpuBackend`) it is the same cache.
    let second = product(
        &b,
        &Backend::expert_weight(&&b, k, data.clone()).unwrap(),
        &xs,
    );
    assert_eq!(first, plain);
    assert_eq!(second, plain);
    // Another part of the same expert is another entry.
    b.expert_weight(key(3, 7, ExpertPart::Down), data.clone())
        .unwrap();
    // Through the `Backend` trait, on the backend and on a shared reference to it.
    let stats = Backend::expert_cache_stats(&&b).unwrap();
    assert_eq!(Some(stats), b.expert_cache_stats());
    assert_eq!((stats.hits, stats.misses), (1, 2), "{stats:?}");
    assert_eq!(stats.resident_weights, 2, "{stats:?}");
    assert_eq!(stats.resident_bytes, 2 * data.bytes.len() as u64);
}

#[test]
fn the_budget_evicts_the_least_recent_but_never_one_in_use() {
    let mut case = Case::new("expert cache eviction");
    let data = weight(&mut case);
    let size = data.bytes.len() as u64;
    // Room for two matrices.
    let Some(b) = backend(2 * size) else { return };
    let held = b
        .expert_weight(key(0, 0, ExpertPart::Gate), data.clone())
        .unwrap();
    drop(
        b.expert_weight(key(0, 1, ExpertPart::Gate), data.clone())
            .unwrap(),
    );
    // Expert 0 is least recent but held: expert 1 makes room for expert 2.
    drop(
        b.expert_weight(key(0, 2, ExpertPart::Gate), data.clone())
            .unwrap(),
    );
    let stats = b.expert_cache_stats().unwrap();
    assert_eq!(stats.evictions, 1, "{stats:?}");
    assert_eq!(stats.resident_weights, 2, "{stats:?}");
    // Expert 0 is still resident (a hit), expert 1 is not (a miss).
    drop(
        b.expert_weight(key(0, 0, ExpertPart::Gate), data.clone())
            .unwrap(),
    );
    assert_eq!(b.expert_cache_stats().unwrap().hits, 1);
    drop(held);
    drop(
        b.expert_weight(key(0, 1, ExpertPart::Gate), data.clone())
            .unwrap(),
    );
    let stats = b.expert_cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (1, 4), "{stats:?}");
    assert!(stats.resident_bytes <= stats.budget_bytes, "{stats:?}");
}

#[test]
fn a_key_reused_for_another_shape_is_an_error() {
    let Some(b) = backend(1 << 20) else { return };
    let mut case = Case::new("expert cache mismatch");
    let data = weight(&mut case);
    let k = key(1, 2, ExpertPart::Gate);
    b.expert_weight(k, data.clone()).unwrap();
    let format: QuantFormat = "q4".parse().unwrap();
    let other = formats::random_weight(&mut case, format, ROWS * 2, COLS).data;
    match b.expert_weight(k, other) {
        Err(ComputeError::Argument { message, .. }) => {
            assert!(message.contains("layer 1 expert 2"), "{message}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a different weight under a resident key was accepted"),
    }
}

#[test]
fn without_a_budget_the_cache_is_off() {
    let Some(b) = backend(0) else { return };
    let mut case = Case::new("expert cache off");
    let data = weight(&mut case);
    let k = key(0, 0, ExpertPart::Up);
    b.expert_weight(k, data.clone()).unwrap();
    b.expert_weight(k, data).unwrap();
    assert_eq!(b.expert_cache_stats(), None);
    assert_eq!(Backend::expert_cache_stats(&&b), None);
}

#[test]
fn streamed_experts_switch_to_the_streamed_submit_cadence() {
    for (budget, options) in [
        (1 << 20, WgpuOptions::default()),
        (
            0,
            WgpuOptions {
                max_pending_dispatches: 5,
                streamed_pending_dispatches: 9,
                ..WgpuOptions::default()
            },
        ),
    ] {
        let (resident, streamed) = (
            options.max_pending_dispatches,
            options.streamed_pending_dispatches,
        );
        let Some(b) = common::open(WgpuOptions {
            expert_cache_bytes: budget,
            ..options
        }) else {
            return;
        };
        let mut case = Case::new("streamed cadence");
        let data = weight(&mut case);
        let xs = case.values(COLS, -1.0, 1.0);
        // Weights loaded once (resident experts included) leave the cadence alone.
        let plain = product(&b, &b.weight(data.clone()).unwrap(), &xs);
        assert_eq!(b.pending_dispatch_limit(), resident);
        let streamed_in = b.expert_weight(key(0, 1, ExpertPart::Gate), data).unwrap();
        assert_eq!(b.pending_dispatch_limit(), streamed);
        assert_eq!(product(&b, &streamed_in, &xs), plain);
    }
}
