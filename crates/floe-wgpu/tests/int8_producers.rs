//! int8 producers: with int8 activations on, rms_norm, its fused residual add, SwiGLU (plain
//! and packed) and attention write the int8 blocks of their output as they go, so the
//! one-token product that reads it needs no quantizing dispatch. The blocks must be exactly
//! those `quantize_x` makes: a product of the produced tensor equals, bit for bit, the product
//! of a fresh upload of the same values. The kernel profile shows which kernels ran, so a
//! producer that silently fell back to `quantize_x` fails too.

mod common;

use floe_compute::conformance::{formats, Case};
use floe_compute::{AttentionSpec, Backend};
use floe_quant::QuantFormat;
use floe_wgpu::{WgpuBackend, WgpuOptions, WgpuTensor, WgpuWeight};

const COLS: usize = 1024;

fn profiled() -> Option<WgpuBackend> {
    common::open(WgpuOptions {
        int8_activations: true,
        profile_kernels: true,
        ..WgpuOptions::default()
    })
}

/// Dispatches of `kernel` in `b`'s profile so far.
fn dispatches(b: &WgpuBackend, kernel: &str) -> u64 {
    let profile = b
        .kernel_profile()
        .unwrap()
        .expect("profiling was asked for");
    profile
        .iter()
        .find(|k| k.kernel == kernel)
        .map_or(0, |k| k.dispatches)
}

/// `x · wᵀ` of the produced tensor `x` and of a fresh upload of its values: bit for bit equal.
fn same_as_fresh(b: &WgpuBackend, what: &str, x: &WgpuTensor, w: &WgpuWeight) {
    let got = b.download(&b.matmul(x, w).unwrap()).unwrap();
    let [rows, cols] = b.shape(x);
    let fresh = b.upload(&b.download(x).unwrap(), rows, cols).unwrap();
    let want = b.download(&b.matmul(&fresh, w).unwrap()).unwrap();
    let differs = got
        .iter()
        .zip(&want)
        .position(|(g, w)| g.to_bits() != w.to_bits());
    assert_eq!(
        differs, None,
        "{what}: the product of the produced int8 blocks differs from quantize_x's"
    );
}

fn producers_write_what_quantize_x_would(format: &'static str, rows: usize) {
    let Some(b) = profiled() else {
        return;
    };
    let mut case = Case::new(format);
    let format_id = formats::parse_format(format);
    let w = b
        .weight(formats::random_weight(&mut case, format_id, 96, COLS).data)
        .unwrap();
    let norm = b
        .weight(formats::random_weight(&mut case, QuantFormat::F32, 1, COLS).data)
        .unwrap();
    let upload = |case: &mut Case| {
        b.upload(&case.values(rows * COLS, -2.0, 2.0), rows, COLS)
            .unwrap()
    };
    // The first int8 product tells producers which code order to write.
    let x = upload(&mut case);
    b.download(&b.matmul(&x, &w).unwrap()).unwrap();
    let before = dispatches(&b, "quantize_x");
    assert_eq!(before, 1, "{format}: the first product quantizes its x");

    let h = b.rms_norm(&x, &norm, 1e-6, 0.0).unwrap();
    same_as_fresh(&b, &format!("{format} rms_norm"), &h, &w);
    let delta = upload(&mut case);
    let (_, h) = b.add_rms_norm(&x, &delta, &norm, 1e-6, 0.0).unwrap();
    same_as_fresh(&b, &format!("{format} add_rms_norm"), &h, &w);
    let up = upload(&mut case);
    let g = b.swiglu(&x, &up).unwrap();
    same_as_fresh(&b, &format!("{format} swiglu"), &g, &w);
    let gate_up = b
        .upload(&case.values(rows * 2 * COLS, -2.0, 2.0), rows, 2 * COLS)
        .unwrap();
    let g = b.swiglu_packed(&gate_up).unwrap();
    same_as_fresh(&b, &format!("{format} swiglu_packed"), &g, &w);
    // Attention over 8 heads of 128 (2 kv heads), 5 earlier positions.
    let q = upload(&mut case);
    let past = 5;
    let kv = |case: &mut Case| {
        let n = past + rows;
        b.upload(&case.values(n * 256, -1.0, 1.0), n, 256).unwrap()
    };
    let (k, v) = (kv(&mut case), kv(&mut case));
    let spec = AttentionSpec {
        n_heads: 8,
        n_kv_heads: 2,
        head_dim: 128,
        scale: 128f32.powf(-0.5),
        past,
    };
    let a = b.attention(&q, &k, &v, &spec).unwrap();
    same_as_fresh(&b, &format!("{format} attention"), &a, &w);
    // A long context: attention split over ranges of positions, merged by the producer.
    let q = upload(&mut case);
    let long = 300;
    let (k, v) = (
        b.upload(
            &case.values((long + rows) * 256, -1.0, 1.0),
            long + rows,
            256,
        )
        .unwrap(),
        b.upload(
            &case.values((long + rows) * 256, -1.0, 1.0),
            long + rows,
            256,
        )
        .unwrap(),
    );
    let spec = AttentionSpec { past: long, ..spec };
    let a = b.attention(&q, &k, &v, &spec).unwrap();
    same_as_fresh(&b, &format!("{format} split attention"), &a, &w);

    // Only the six fresh uploads were quantized by quantize_x.
    assert_eq!(dispatches(&b, "quantize_x"), before + 6, "{format}");
    for (kernel, runs) in [
        ("rms_norm_q", 1),
        ("add_rms_norm_q", 1),
        ("swiglu_q", 2),
        ("attention_q", 1),
        ("attention_merge_q", 1),
    ] {
        assert_eq!(dispatches(&b, kernel), runs, "{format}: {kernel}");
    }

    // Narrow rows (per-head q/k norms) are not worth blocks of their own.
    let narrow = b.upload(&case.values(4 * 128, -1.0, 1.0), 4, 128).unwrap();
    let narrow_norm = b
        .weight(formats::random_weight(&mut case, QuantFormat::F32, 1, 128).data)
        .unwrap();
    b.download(&b.rms_norm(&narrow, &narrow_norm, 1e-6, 0.0).unwrap())
        .unwrap();
    assert_eq!(dispatches(&b, "rms_norm_q"), 1, "{format}: narrow rows");
}

#[test]
fn q4_producers_write_what_quantize_x_would() {
    producers_write_what_quantize_x_would("q4", 1);
}

#[test]
fn q8_0_producers_write_what_quantize_x_would() {
    producers_write_what_quantize_x_would("q8_0", 3);
}

#[test]
fn without_int8_activations_the_producers_write_no_blocks() {
    let Some(b) = common::open(WgpuOptions {
        profile_kernels: true,
        int8_activations: false,
        ..WgpuOptions::default()
    }) else {
        return;
    };
    let mut case = Case::new("f32 x");
    let w = b
        .weight(formats::random_weight(&mut case, QuantFormat::Q8_0, 32, COLS).data)
        .unwrap();
    let norm = b
        .weight(formats::random_weight(&mut case, QuantFormat::F32, 1, COLS).data)
        .unwrap();
    let x = b.upload(&case.values(COLS, -1.0, 1.0), 1, COLS).unwrap();
    b.download(&b.matmul(&x, &w).unwrap()).unwrap();
    let h = b.rms_norm(&x, &norm, 1e-6, 0.0).unwrap();
    b.download(&b.matmul(&h, &w).unwrap()).unwrap();
    assert_eq!(dispatches(&b, "rms_norm_q"), 0);
    assert_eq!(dispatches(&b, "rms_norm"), 1);
    assert_eq!(dispatches(&b, "quantize_x"), 0);
}
