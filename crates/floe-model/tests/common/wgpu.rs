//! The wgpu backend the wgpu fixture tests share (lavapipe allowed).

use std::sync::{Arc, OnceLock};

use floe_wgpu::{WgpuBackend, WgpuOptions};

/// Whether the environment demands a GPU adapter (`FLOE_REQUIRE_GPU=1`).
pub fn gpu_required() -> bool {
    std::env::var("FLOE_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

/// The backend shared by every test of this binary, or `None` (after a notice) when no adapter
/// can be opened and none is required.
pub fn backend() -> Option<Arc<WgpuBackend>> {
    static BACKEND: OnceLock<Option<Arc<WgpuBackend>>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            match WgpuBackend::new(WgpuOptions {
                allow_software: true,
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
