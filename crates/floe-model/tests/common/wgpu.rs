//! The wgpu backend the wgpu fixture tests share (lavapipe allowed).

use std::sync::{Arc, OnceLock};

use floe_wgpu::{WgpuBackend, WgpuOptions};

/// Whether the environment demands a GPU adapter (`FLOE_REQUIRE_GPU=1`).
pub fn gpu_required() -> bool {
    std::env::var("FLOE_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

/// The backend shared by every test of this binary, or `None` (after a notice) when no adapter
/// can be opened and none is required. Activations stay in f32 (`int8_activations: false`),
/// the path held to the reference tolerance: the default int8 activations move these tiny
/// random-weight models' logits by what quantizing x costs (about half of what 8-bit weights
/// cost: `tests/cli_backend.rs` in the floe crate), which the reference tolerance does not
/// allow.
pub fn backend() -> Option<Arc<WgpuBackend>> {
    static BACKEND: OnceLock<Option<Arc<WgpuBackend>>> = OnceLock::new();
    open(&BACKEND)
}

fn open(slot: &'static OnceLock<Option<Arc<WgpuBackend>>>) -> Option<Arc<WgpuBackend>> {
    slot.get_or_init(|| {
        match WgpuBackend::new(WgpuOptions {
            allow_software: true,
            int8_activations: false,
            ..WgpuOptions::default()
        }) {
            Ok(backend) => {
                eprintln!("wgpu adapter: {:?}", backend.adapter());
                Some(Arc::new(backend))
            }
            Err(e) if !gpu_required() => {
                eprintln!(
                    "notice: skipping the wgpu fixture tests, no adapter ({e}); set FLOE_REQUIRE_GPU=1 to fail instead"
                );
                None
            }
            Err(e) => panic!("FLOE_REQUIRE_GPU=1 but no wgpu backend could be opened: {e}"),
        }
    })
    .clone()
}
