//! The backend conformance suite (`floe_compute::conformance`) on the wgpu backend, twice:
//! with subgroup reductions where the adapter has them, and with workgroup-memory reductions,
//! plainly converted quantized codes and a fixed one-token kernel shape (four rows per
//! invocation, eight invocations per row). Both keep activations in f32, the path whose
//! products the suite's per-format tolerances describe; the default int8 activations have
//! their own bound, checked in `int8.rs` and `int8_producers.rs`.
//!
//! The suite needs a backend for every case, so without an adapter these tests fail; run them
//! where lavapipe (`mesa-vulkan-drivers`) or a GPU is installed.

use std::sync::OnceLock;

use floe_wgpu::{CodeDecode, MatvecTuning, WgpuBackend, WgpuOptions};

fn open(
    slot: &'static OnceLock<Result<WgpuBackend, String>>,
    options: fn() -> WgpuOptions,
) -> Result<&'static WgpuBackend, String> {
    slot.get_or_init(|| {
        WgpuBackend::new(WgpuOptions {
            allow_software: true,
            ..options()
        })
        .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

fn default_backend() -> Result<&'static WgpuBackend, String> {
    static SLOT: OnceLock<Result<WgpuBackend, String>> = OnceLock::new();
    open(&SLOT, || WgpuOptions {
        int8_activations: false,
        ..WgpuOptions::default()
    })
}

fn fallback_backend() -> Result<&'static WgpuBackend, String> {
    static SLOT: OnceLock<Result<WgpuBackend, String>> = OnceLock::new();
    open(&SLOT, || WgpuOptions {
        use_subgroups: false,
        code_decode: CodeDecode::Convert,
        matvec_tuning: Some(MatvecTuning {
            threads: 64,
            rows: 8,
            rows_per_invocation: 4,
        }),
        int8_activations: false,
        ..WgpuOptions::default()
    })
}

floe_compute::backend_conformance_tests!(wgpu, default_backend);
floe_compute::backend_conformance_tests!(wgpu_workgroup_reductions, fallback_backend);
