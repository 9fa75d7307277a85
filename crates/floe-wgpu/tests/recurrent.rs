//! The recurrent operations on the wgpu backend beyond the conformance suite: a convolution
//! weight split into many row ranges (one dispatch per range, each updating its channels of the
//! state), and outputs written in full over poisoned pooled buffers.

mod common;

use std::sync::OnceLock;

use floe_compute::conformance::{cases, Case};
use floe_wgpu::{WgpuBackend, WgpuOptions};

fn chunked() -> Option<&'static WgpuBackend> {
    static SLOT: OnceLock<Option<WgpuBackend>> = OnceLock::new();
    common::shared(&SLOT, || WgpuOptions {
        max_weight_chunk_bytes: Some(3000),
        ..WgpuOptions::default()
    })
}

#[test]
fn conv1d_weights_split_into_row_ranges() {
    let Some(b) = chunked() else { return };
    for (name, format, channels) in [
        ("recurrent::conv1d_chunked_f32", "f32", 2048),
        ("recurrent::conv1d_chunked_bf16", "bf16", 1500),
    ] {
        common::poison(b);
        cases::causal_conv1d(&b, Case::new(name), format, 3, 2, channels, 4, "silu");
    }
}

#[test]
fn delta_rule_outputs_are_written_over_poisoned_buffers() {
    let Some(b) = chunked() else { return };
    common::poison(b);
    cases::gated_delta_rule(
        &b,
        Case::new("recurrent::delta_rule_poisoned"),
        3,
        2,
        2,
        6,
        32,
        24,
        true,
    );
}
