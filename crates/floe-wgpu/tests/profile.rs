//! Kernel profiling: every dispatch of a profiled backend is timed and counted under its
//! kernel's name, results are unchanged, and an unprofiled backend reports nothing.

mod common;

use floe_compute::Backend;
use floe_wgpu::WgpuOptions;

#[test]
fn a_profiled_backend_counts_and_times_every_dispatch() {
    let Some(b) = common::open(WgpuOptions {
        profile_kernels: true,
        // Submits part-way through, so that totals add up over several read-backs.
        max_pending_dispatches: 7,
        ..WgpuOptions::default()
    }) else {
        return;
    };
    let x = b.upload(&[1.0, 2.0, 3.0, 4.0], 1, 4).unwrap();
    let mut y = b.add(&x, &x).unwrap();
    for _ in 0..19 {
        y = b.add(&y, &x).unwrap();
    }
    let g = b.swiglu(&y, &x).unwrap();
    let values = b.download(&y).unwrap();
    assert_eq!(values, vec![21.0, 42.0, 63.0, 84.0]);
    let _ = b.download(&g).unwrap();
    let profile = b
        .kernel_profile()
        .unwrap()
        .expect("profiling was asked for");
    let elementwise = profile
        .iter()
        .find(|k| k.kernel == "elementwise")
        .unwrap_or_else(|| panic!("no elementwise kernel in {profile:?}"));
    assert_eq!(elementwise.dispatches, 21, "{profile:?}");
    assert!(
        profile
            .iter()
            .all(|k| k.gpu_seconds >= 0.0 && k.gpu_seconds < 10.0),
        "{profile:?}"
    );
    assert!(
        profile
            .windows(2)
            .all(|w| w[0].gpu_seconds >= w[1].gpu_seconds),
        "most time first: {profile:?}"
    );
}

#[test]
fn an_unprofiled_backend_has_no_profile() {
    let Some(b) = common::open(WgpuOptions::default()) else {
        return;
    };
    let x = b.upload(&[1.0; 8], 2, 4).unwrap();
    let _ = b.download(&b.add(&x, &x).unwrap()).unwrap();
    assert_eq!(b.kernel_profile().unwrap(), None);
}
