//! Weights reach the GPU through the persistent staging ring: with a ring of two tiny buffers,
//! every weight takes several passes around it, and weights uploaded earlier must survive the
//! reuse of the slots they went through.

mod common;

use floe_compute::conformance::{formats, reference, Case};
use floe_compute::{Backend, ComputeError};
use floe_quant::QuantFormat;
use floe_wgpu::{WgpuBackend, WgpuOptions};

/// Checks `x · wᵀ` of every `(weight, values)` pair against the f64 product, within the
/// conformance bound (1e-5 of Σ |w|·|x|).
fn check_all(
    b: &WgpuBackend,
    weights: &[(formats::RefWeight, usize, usize, String)],
    uploaded: &[floe_wgpu::WgpuWeight],
) {
    let mut case = Case::new("staging inputs");
    for (i, ((w, rows, cols, format), bw)) in weights.iter().zip(uploaded).enumerate() {
        let xs = case.values(*cols, -1.0, 1.0);
        let x = b.upload(&xs, 1, *cols).unwrap();
        let got = b.download(&b.matmul(&x, bw).unwrap()).unwrap();
        let want = reference::matmul(
            &reference::Mat::from_f32(1, *cols, &xs),
            &reference::Mat::new(*rows, *cols, w.values.clone()),
        );
        assert_eq!(got.len(), *rows);
        for (n, &g) in got.iter().enumerate() {
            let magnitude: f64 = (0..*cols)
                .map(|k| w.magnitude[n * cols + k] * xs[k].abs() as f64)
                .sum();
            let (g, e) = (g as f64, want.at(0, n));
            assert!(
                (g - e).abs() <= 1e-5 * magnitude + 1e-30,
                "weight {i} ({format}) row {n}: got {g}, want {e}"
            );
        }
    }
}

#[test]
fn weights_through_a_tiny_ring_are_uploaded_intact() {
    let Some(b) = common::open(WgpuOptions {
        staging_buffers: 2,
        staging_buffer_bytes: 200, // rounded up to 208: pieces do not line up with rows
        // f32 x, so that the products are held to the conformance bound.
        int8_activations: false,
        ..WgpuOptions::default()
    }) else {
        return;
    };
    let mut case = Case::new("staging weights");
    let shapes = [
        ("f32", 7, 64),
        ("q8_0", 9, 96),
        ("q4", 11, 128),
        ("bf16", 3, 32),
        ("q2", 5, 256),
    ];
    let weights: Vec<_> = shapes
        .iter()
        .map(|&(format, rows, cols)| {
            let f: QuantFormat = format.parse().unwrap();
            (
                formats::random_weight(&mut case, f, rows, cols),
                rows,
                cols,
                format.to_string(),
            )
        })
        .collect();
    // Upload all of them first, then use each: later uploads reuse the slots of earlier ones.
    let uploaded: Vec<_> = weights
        .iter()
        .map(|(w, ..)| b.weight(w.data.clone()).unwrap())
        .collect();
    check_all(&b, &weights, &uploaded);
}

#[test]
fn an_empty_ring_is_refused() {
    for (buffers, bytes) in [(0, 1 << 20), (4, 0)] {
        let result = WgpuBackend::new(WgpuOptions {
            allow_software: true,
            staging_buffers: buffers,
            staging_buffer_bytes: bytes,
            ..WgpuOptions::default()
        });
        match result {
            Err(ComputeError::Argument { message, .. }) => {
                assert!(message.contains("staging_buffers"), "{message}")
            }
            Err(ComputeError::Device(e)) if !common::gpu_required() => {
                eprintln!("notice: skipping, no adapter ({e})");
                return;
            }
            Err(e) => panic!("staging {buffers} × {bytes}: unexpected error {e}"),
            Ok(_) => panic!("staging {buffers} × {bytes} was accepted"),
        }
    }
}
