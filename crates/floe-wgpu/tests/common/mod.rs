//! Opening test backends: on any adapter, software included. Without one the tests print a
//! notice and pass, unless `FLOE_REQUIRE_GPU=1` (as CI sets), which makes them fail.

use std::sync::OnceLock;

use floe_compute::Backend;
use floe_wgpu::{WgpuBackend, WgpuOptions};

/// Whether the environment demands a GPU adapter (`FLOE_REQUIRE_GPU=1`).
pub fn gpu_required() -> bool {
    std::env::var("FLOE_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

/// A backend with `options` (software adapters allowed), or `None` after printing why there is
/// none; panics instead when a GPU is required.
pub fn open(options: WgpuOptions) -> Option<WgpuBackend> {
    match WgpuBackend::new(WgpuOptions {
        allow_software: true,
        ..options
    }) {
        Ok(b) => Some(b),
        Err(e) if !gpu_required() => {
            eprintln!("notice: skipping wgpu tests, no adapter ({e}); set FLOE_REQUIRE_GPU=1 to fail instead");
            None
        }
        Err(e) => panic!("FLOE_REQUIRE_GPU=1 but no wgpu backend could be opened: {e}"),
    }
}

/// One shared backend per configuration, for the whole test binary.
#[allow(dead_code)] // not every test binary shares backends
pub fn shared(
    slot: &'static OnceLock<Option<WgpuBackend>>,
    options: impl FnOnce() -> WgpuOptions,
) -> Option<&'static WgpuBackend> {
    slot.get_or_init(|| open(options())).as_ref()
}

/// Fills the buffer pool with NaN-filled buffers of many size classes, so an output element a
/// kernel forgets to write shows up as NaN.
#[allow(dead_code)] // not every test binary poisons
pub fn poison(b: &WgpuBackend) {
    let held: Vec<_> = (0..12)
        .map(|i| b.upload(&vec![f32::NAN; 37 << i], 37 << i, 1).unwrap())
        .collect();
    drop(held);
}
