//! Tests of what is particular to the wgpu backend (the conformance suite covers the
//! operations): weights split into row ranges, every matrix-vector kernel shape and decoding,
//! outputs written in full over poisoned pooled buffers, submission part-way through a chain,
//! arena growth, adapter choice and the limits it refuses with errors.

mod common;

use std::sync::OnceLock;

use floe_compute::conformance::{formats, reference, Case};
use floe_compute::{AttentionSpec, Backend, ComputeError, WeightData};
use floe_quant::QuantFormat;
use floe_wgpu::{AdapterChoice, CodeDecode, MatvecTuning, WgpuBackend, WgpuOptions};

const FORMATS: &[&str] = &[
    "f32",
    "f16",
    "bf16",
    "q8_0",
    "q4",
    "q2",
    "affine8-g32-f16",
    "affine4-g128-f32",
    "affine2-g32-bf16",
];

fn chunked() -> Option<&'static WgpuBackend> {
    static SLOT: OnceLock<Option<WgpuBackend>> = OnceLock::new();
    common::shared(&SLOT, || WgpuOptions {
        max_weight_chunk_bytes: Some(3000),
        // f32 x: the products compared with the CPU backend's and f64 references.
        int8_activations: false,
        ..WgpuOptions::default()
    })
}

/// `x · wᵀ` on the backend against the f64 product of the decoded weight, within the
/// conformance bound (1e-5 of Σ |w|·|x|).
fn check_matmul(
    b: &WgpuBackend,
    name: &'static str,
    format: &str,
    tokens: usize,
    cols: usize,
    rows: usize,
) {
    let mut case = Case::new(name);
    let format: QuantFormat = format.parse().unwrap();
    let w = formats::random_weight(&mut case, format, rows, cols);
    let xs = case.values(tokens * cols, -1.0, 1.0);
    let bw = b.weight(w.data.clone()).unwrap();
    common::poison(b);
    let x = b.upload(&xs, tokens, cols).unwrap();
    let got = b.download(&b.matmul(&x, &bw).unwrap()).unwrap();
    let want = reference::matmul(
        &reference::Mat::from_f32(tokens, cols, &xs),
        &reference::Mat::new(rows, cols, w.values.clone()),
    );
    for t in 0..tokens {
        for n in 0..rows {
            let magnitude: f64 = (0..cols)
                .map(|k| w.magnitude[n * cols + k] * xs[t * cols + k].abs() as f64)
                .sum();
            let (g, e) = (got[t * rows + n] as f64, want.at(t, n));
            assert!(
                (g - e).abs() <= 1e-5 * magnitude + 1e-30,
                "{name} {format} [{t}, {n}]: got {g}, want {e}"
            );
        }
    }
}

#[test]
fn matmul_over_weights_split_into_row_ranges() {
    let Some(b) = chunked() else { return };
    for &format in FORMATS {
        let f: QuantFormat = format.parse().unwrap();
        let w = b
            .weight(formats::random_weight(&mut Case::new("split"), f, 77, 256).data)
            .unwrap();
        assert!(
            w.chunks() > 1,
            "{format}: a 77×256 weight should not fit 3000-byte chunks"
        );
        for tokens in [1, 3, 6] {
            check_matmul(b, "matmul_split", format, tokens, 256, 77);
        }
    }
    // Shapes the vectorized kernels cannot read in 16-byte units.
    check_matmul(b, "matmul_split_odd", "f32", 2, 37, 90);
    check_matmul(b, "matmul_split_odd", "bf16", 1, 12, 300);
    check_matmul(b, "matmul_split_odd", "affine2-g32-f32", 1, 96, 50);
}

#[test]
fn embed_across_row_ranges() {
    let Some(b) = chunked() else { return };
    for &format in FORMATS {
        let mut case = Case::new("embed_split");
        let f: QuantFormat = format.parse().unwrap();
        let w = formats::random_weight(&mut case, f, 90, 128);
        let table = b.weight(w.data.clone()).unwrap();
        let ids: Vec<u32> = vec![89, 0, 45, 45, 12, 77, 3];
        common::poison(b);
        let got = b.download(&b.embed(&table, &ids).unwrap()).unwrap();
        for (i, &id) in ids.iter().enumerate() {
            for c in 0..128 {
                let want = w.values[id as usize * 128 + c];
                let tol = 4.0
                    * floe_compute::conformance::tolerance::U
                    * w.magnitude[id as usize * 128 + c];
                assert!(
                    (got[i * 128 + c] as f64 - want).abs() <= tol,
                    "{format} id {id} col {c}"
                );
            }
        }
    }
}

#[test]
fn every_matvec_shape_and_decoding_is_correct() {
    // f32 x: the decodings of the f32-x kernels (int8.rs covers the int8 ones).
    let Some(b) = common::open(WgpuOptions {
        int8_activations: false,
        ..WgpuOptions::default()
    }) else {
        return;
    };
    // (threads, rows, rows per invocation): the one-token kernels' row slots take threads /
    // rows invocations each, from 1 (one slot per invocation) to 256 (one slot per workgroup),
    // and each slot computes 1, 2, 4 or 8 rows (3 rounds up to 4). The 45 rows of the checks
    // leave a partial slot at the end.
    let tunings = [
        (32, 1, 4),
        (64, 8, 2),
        (128, 3, 1),
        (256, 4, 3),
        (64, 2, 1),
        (32, 32, 2),
        (32, 16, 4),
        (32, 8, 1),
        (256, 1, 2),
        (128, 64, 4),
        (64, 16, 8),
        (128, 32, 8),
    ];
    let formats = ["q4", "q2", "q8_0", "affine8-g64-bf16", "f16", "bf16", "f32"];
    let decodes = [
        CodeDecode::Mantissa,
        CodeDecode::Convert,
        CodeDecode::HalfPairs,
    ];
    for (i, format) in formats.iter().enumerate() {
        for (j, decode) in decodes.into_iter().enumerate() {
            for k in 0..3 {
                let (threads, rows, per_invocation) = tunings[(i + 3 * j + k) % tunings.len()];
                let tuning = MatvecTuning {
                    threads,
                    rows,
                    rows_per_invocation: per_invocation,
                };
                b.set_matvec_kernel(decode, Some(tuning));
                check_matmul(&b, "matvec_tuned", format, 1, 512, 45);
            }
            check_matmul(&b, "matvec_tuned_t4", format, 4, 128, 19);
        }
    }
}

#[test]
fn submitting_part_way_through_a_chain_keeps_results() {
    let options = WgpuOptions {
        max_pending_dispatches: 1,
        pool_bytes: 0,
        ..WgpuOptions::default()
    };
    for options in [
        options.clone(),
        WgpuOptions {
            max_pending_dispatches: 3,
            pool_bytes: 1 << 20,
            ..options
        },
    ] {
        let Some(b) = common::open(options) else {
            return;
        };
        let xs: Vec<f32> = (0..64).map(|i| i as f32 * 0.25 - 3.0).collect();
        let mut acc = b.upload(&xs, 8, 8).unwrap();
        let mut want: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
        for step in 0..10 {
            let y = b.add(&acc, &acc).unwrap();
            let ones = b.upload(&[0.5; 8], 8, 1).unwrap();
            acc = b.mul(&y, &ones).unwrap();
            let src = b.upload(&[step as f32; 16], 2, 8).unwrap();
            b.scatter_add_rows(&mut acc, &src, &[7, 0], &[1.0, 2.0])
                .unwrap();
            for c in 0..8 {
                want[7 * 8 + c] += step as f64;
                want[c] += 2.0 * step as f64;
            }
        }
        let got = b.download(&acc).unwrap();
        assert_eq!(got, want.iter().map(|&v| v as f32).collect::<Vec<_>>());
    }
}

#[test]
fn index_lists_larger_than_the_arena() {
    let Some(b) = common::open(WgpuOptions::default()) else {
        return;
    };
    let x = b.upload(&[10.0, 11.0, 12.0, 13.0], 4, 1).unwrap();
    let rows: Vec<u32> = (0..300_000u32).map(|i| (i * 7) % 4).collect();
    let got = b.download(&b.gather_rows(&x, &rows).unwrap()).unwrap();
    assert!(got.iter().zip(&rows).all(|(&g, &r)| g == 10.0 + r as f32));
}

#[test]
fn attention_outputs_are_fully_written() {
    let Some(b) = common::open(WgpuOptions {
        use_subgroups: false,
        ..WgpuOptions::default()
    }) else {
        return;
    };
    let mut case = Case::new("attention_poisoned");
    let spec = AttentionSpec {
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 16,
        scale: 0.25,
        past: 5,
    };
    let (t, cap) = (3, 12);
    let q = case.values(t * 64, -1.0, 1.0);
    let mut k = case.values(cap * 32, -1.0, 1.0);
    let mut v = case.values(cap * 32, -1.0, 1.0);
    // Cache rows past `past + t` must not be read.
    k[(spec.past + t) * 32..].fill(f32::NAN);
    v[(spec.past + t) * 32..].fill(f32::NAN);
    common::poison(&b);
    let out = b
        .attention(
            &b.upload(&q, t, 64).unwrap(),
            &b.upload(&k, cap, 32).unwrap(),
            &b.upload(&v, cap, 32).unwrap(),
            &spec,
        )
        .unwrap();
    let got = b.download(&out).unwrap();
    let want = reference::attention(
        &reference::Mat::from_f32(t, 64, &q),
        &reference::Mat::from_f32(cap, 32, &k),
        &reference::Mat::from_f32(cap, 32, &v),
        &spec,
    );
    for r in 0..t {
        for c in 0..64 {
            assert!(
                (got[r * 64 + c] as f64 - want.at(r, c)).abs() < 1e-5,
                "[{r}, {c}]: {} vs {}",
                got[r * 64 + c],
                want.at(r, c)
            );
        }
    }
}

#[test]
fn adapter_choices_that_match_nothing_are_errors() {
    let adapters = WgpuBackend::list_adapters();
    for a in &adapters {
        eprintln!("found adapter {a}");
    }
    if adapters.is_empty() {
        assert!(
            !common::gpu_required(),
            "FLOE_REQUIRE_GPU=1 but wgpu finds no adapter"
        );
        return;
    }
    let by_name = WgpuBackend::new(WgpuOptions {
        adapter: AdapterChoice::Name("no such adapter".into()),
        ..WgpuOptions::default()
    });
    assert!(
        matches!(&by_name, Err(ComputeError::Device(m)) if m.contains("no adapter named") && m.contains(&adapters[0].name))
    );
    let by_index = WgpuBackend::new(WgpuOptions {
        adapter: AdapterChoice::Index(adapters.len()),
        ..WgpuOptions::default()
    });
    assert!(matches!(by_index, Err(ComputeError::Device(m)) if m.contains("out of range")));
    let auto = WgpuBackend::new(WgpuOptions::default());
    if adapters.iter().all(|a| a.software) {
        assert!(
            matches!(auto, Err(ComputeError::Device(m)) if m.contains("no hardware GPU adapter"))
        );
    } else {
        assert!(
            !auto.unwrap().adapter().software,
            "auto must prefer a hardware adapter"
        );
    }
    let named = WgpuBackend::new(WgpuOptions {
        adapter: AdapterChoice::Name(adapters[0].name.to_uppercase()),
        ..WgpuOptions::default()
    });
    assert_eq!(named.unwrap().adapter().name, adapters[0].name);
}

#[test]
fn sizes_over_the_device_limits_are_refused() {
    let Some(b) = common::open(WgpuOptions {
        max_weight_chunk_bytes: Some(4096),
        ..WgpuOptions::default()
    }) else {
        return;
    };
    let bytes = vec![0u8; 2 * 4096 * 4].into();
    let weight = b.weight(WeightData {
        format: QuantFormat::F32,
        rows: 2,
        cols: 4096,
        bytes,
    });
    assert!(matches!(weight, Err(ComputeError::Unsupported(m)) if m.contains("16384-byte rows")));
    let limit = b.max_binding_bytes();
    let cols = 1 << 16;
    let rows = (limit / 4 / cols as u64 + 1) as usize;
    assert!(
        matches!(b.zeros(rows, cols), Err(ComputeError::Unsupported(m)) if m.contains("storage binding limit"))
    );
}

#[test]
fn name_tells_the_adapter_and_reductions() {
    let Some(b) = common::open(WgpuOptions {
        use_subgroups: false,
        ..WgpuOptions::default()
    }) else {
        return;
    };
    assert!(
        b.name().contains(&b.adapter().name) && b.name().contains("workgroup memory"),
        "{}",
        b.name()
    );
    assert!(!b.uses_subgroups());
}
