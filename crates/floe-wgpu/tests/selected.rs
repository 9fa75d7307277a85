//! Expert stacks split into chunks of whole entries (`max_weight_chunk_bytes` small):
//! `matmul_selected` with ids in every chunk equals the CPU backend, a bad id gives a NaN row in
//! a chunked stack too, the whole routed chain (`route_topk` → `matmul_selected` →
//! `combine_selected`) matches the CPU backend, and an entry larger than a chunk is refused.

mod common;

use std::sync::OnceLock;

use floe_compute::conformance::{formats, Case};
use floe_compute::cpu::CpuBackend;
use floe_compute::{Backend, ComputeError};
use floe_quant::QuantFormat;
use floe_wgpu::{WgpuBackend, WgpuOptions};

/// The chunk cap of the test backend, in bytes.
const CHUNK: u64 = 3000;

fn chunked() -> Option<&'static WgpuBackend> {
    static SLOT: OnceLock<Option<WgpuBackend>> = OnceLock::new();
    common::shared(&SLOT, || WgpuOptions {
        max_weight_chunk_bytes: Some(CHUNK),
        // f32 x: the products compared with the CPU backend's and f64 references.
        int8_activations: false,
        ..WgpuOptions::default()
    })
}

fn cpu() -> CpuBackend {
    CpuBackend::new(Some(1)).unwrap()
}

/// A stack of `experts` random `[n, cols]` weights on both backends, with the CPU's values'
/// magnitudes (for tolerances).
struct Stacks {
    gpu: floe_wgpu::WgpuWeightStack,
    cpu: floe_compute::cpu::CpuWeightStack,
    magnitude: Vec<Vec<f64>>,
}

fn stacks(
    b: &WgpuBackend,
    c: &CpuBackend,
    case: &mut Case,
    format: &str,
    experts: usize,
    n: usize,
    cols: usize,
) -> Stacks {
    let format: QuantFormat = format.parse().unwrap();
    let weights: Vec<_> = (0..experts)
        .map(|_| formats::random_weight(case, format, n, cols))
        .collect();
    let parts: Vec<_> = weights.iter().map(|w| w.data.clone()).collect();
    Stacks {
        gpu: b.weight_stack(parts.clone()).unwrap(),
        cpu: c.weight_stack(parts).unwrap(),
        magnitude: weights.into_iter().map(|w| w.magnitude).collect(),
    }
}

/// `[t, 2k]` routes naming `ids` (row-major, `k` per token) with random weights.
fn routes(case: &mut Case, ids: &[f32], k: usize) -> Vec<f32> {
    let mut data = Vec::new();
    for row in ids.chunks_exact(k) {
        data.extend_from_slice(row);
        data.extend((0..k).map(|_| case.uniform(0.0, 1.0)));
    }
    data
}

/// Compares row `s` of two `[T·k, n]` products within 1e-5 of Σ |w|·|x|.
#[allow(clippy::too_many_arguments)]
fn assert_row(
    what: &str,
    got: &[f32],
    want: &[f32],
    s: usize,
    n: usize,
    magnitude: &[f64],
    x_row: &[f32],
) {
    let cols = x_row.len();
    for col in 0..n {
        let m: f64 = (0..cols)
            .map(|j| magnitude[col * cols + j] * x_row[j].abs() as f64)
            .sum();
        let (g, w) = (got[s * n + col] as f64, want[s * n + col] as f64);
        assert!(
            (g - w).abs() <= 1e-5 * m + 1e-30,
            "{what}: selection {s} column {col}: got {g}, want {w}"
        );
    }
}

#[test]
fn matmul_selected_over_stacks_split_into_entry_ranges_equals_the_cpu() {
    let Some(b) = chunked() else { return };
    let c = cpu();
    // (format, experts, rows, cols): vectorized kernels, and the generic one (f32 with 37
    // columns, 2-bit with 96).
    let shapes = [
        ("q4", 12, 16, 64),
        ("q8_0", 11, 8, 64),
        ("f16", 7, 8, 64),
        ("bf16", 5, 3, 128),
        ("affine8-g32-f16", 12, 9, 32),
        ("f32", 8, 5, 37),
        ("affine2-g32-f32", 9, 8, 96),
    ];
    for (format, experts, n, cols) in shapes {
        let mut case = Case::new("selected_split");
        let st = stacks(b, &c, &mut case, format, experts, n, cols);
        let stride = st.gpu.stride_bytes();
        assert_eq!(stride % 16, 0, "{format}: stride {stride}");
        let per_chunk = ((CHUNK - 16) / stride) as usize;
        assert_eq!(st.gpu.chunks(), experts.div_ceil(per_chunk), "{format}");
        assert!(st.gpu.chunks() >= 2, "{format}: the stack should be split");
        assert_eq!(b.weight_stack_shape(&st.gpu), [experts, n, cols]);
        // Per chunk its first and last entry, then the last expert again (two tokens share it).
        let mut ids: Vec<f32> = (0..experts)
            .step_by(per_chunk)
            .flat_map(|first| [first, (first + per_chunk - 1).min(experts - 1)])
            .map(|e| e as f32)
            .collect();
        ids.push((experts - 1) as f32);
        let k = 3;
        while !ids.len().is_multiple_of(k) {
            ids.push(case.below(experts) as f32);
        }
        let t = ids.len() / k;
        let route_values = routes(&mut case, &ids, k);
        for per_selection in [false, true] {
            let x_rows = if per_selection { t * k } else { t };
            let xs = case.values(x_rows * cols, -1.0, 1.0);
            let got = {
                let x = b.upload(&xs, x_rows, cols).unwrap();
                let r = b.upload(&route_values, t, 2 * k).unwrap();
                b.download(&b.matmul_selected(&x, &st.gpu, &r).unwrap())
                    .unwrap()
            };
            let want = {
                let x = c.upload(&xs, x_rows, cols).unwrap();
                let r = c.upload(&route_values, t, 2 * k).unwrap();
                c.download(&c.matmul_selected(&x, &st.cpu, &r).unwrap())
                    .unwrap()
            };
            for (s, &id) in ids.iter().enumerate() {
                let xr = if per_selection { s } else { s / k };
                assert_row(
                    &format!("{format} per_selection={per_selection}"),
                    &got,
                    &want,
                    s,
                    n,
                    &st.magnitude[id as usize],
                    &xs[xr * cols..(xr + 1) * cols],
                );
            }
        }
    }
}

#[test]
fn a_bad_id_in_a_chunked_stack_gives_one_nan_row() {
    let Some(b) = chunked() else { return };
    let c = cpu();
    for (format, cols) in [("q4", 64), ("f32", 37)] {
        let mut case = Case::new("selected_split_bad_id");
        let (experts, n, k) = (10, 16, 2);
        let st = stacks(b, &c, &mut case, format, experts, n, cols);
        assert!(st.gpu.chunks() >= 2, "{format}");
        // Token 0: one past the last expert, then the last; token 1: -1 and 2.5 (not ids),
        // token 2: expert 0 and a NaN.
        let ids = [experts as f32, 9.0, -1.0, 2.5, 0.0, f32::NAN];
        let bad = [true, false, true, true, false, true];
        let route_values = routes(&mut case, &ids, k);
        let xs = case.values(3 * cols, -1.0, 1.0);
        let x = b.upload(&xs, 3, cols).unwrap();
        let r = b.upload(&route_values, 3, 2 * k).unwrap();
        let got = b
            .download(&b.matmul_selected(&x, &st.gpu, &r).unwrap())
            .unwrap();
        // The CPU refuses bad ids: compare the good rows against routes with every bad id
        // replaced by expert 0.
        let fixed: Vec<f32> = route_values
            .chunks_exact(2 * k)
            .enumerate()
            .flat_map(|(t, row)| {
                let mut row = row.to_vec();
                for j in 0..k {
                    if bad[t * k + j] {
                        row[j] = 0.0;
                    }
                }
                row
            })
            .collect();
        let cx = c.upload(&xs, 3, cols).unwrap();
        let bad_routes = c.upload(&route_values, 3, 2 * k).unwrap();
        assert!(matches!(
            c.matmul_selected(&cx, &st.cpu, &bad_routes),
            Err(ComputeError::Argument { .. })
        ));
        let cr = c.upload(&fixed, 3, 2 * k).unwrap();
        let want = c
            .download(&c.matmul_selected(&cx, &st.cpu, &cr).unwrap())
            .unwrap();
        for (s, &is_bad) in bad.iter().enumerate() {
            let row = &got[s * n..(s + 1) * n];
            if is_bad {
                assert!(
                    row.iter().all(|v| v.is_nan()),
                    "{format}: id {} gave {row:?}",
                    ids[s]
                );
            } else {
                let xr = s / k;
                assert_row(
                    format,
                    &got,
                    &want,
                    s,
                    n,
                    &st.magnitude[ids[s] as usize],
                    &xs[xr * cols..(xr + 1) * cols],
                );
            }
        }
    }
}

#[test]
fn the_routed_chain_over_a_chunked_stack_equals_the_cpu() {
    let Some(b) = chunked() else { return };
    let c = cpu();
    let mut case = Case::new("selected_split_chain");
    let (experts, n, cols, t, k) = (16, 32, 64, 5, 4);
    let st = stacks(b, &c, &mut case, "q8_0", experts, n, cols);
    assert!(st.gpu.chunks() >= 3);
    // Evenly spaced logits in a random order per token (no near-ties).
    let mut logits = Vec::new();
    for _ in 0..t {
        let mut rank: Vec<usize> = (0..experts).collect();
        for i in (1..experts).rev() {
            rank.swap(i, case.below(i + 1));
        }
        logits.extend(rank.iter().map(|&r| r as f32 / experts as f32 * 8.0 - 4.0));
    }
    let xs = case.values(t * cols, -1.0, 1.0);
    let got = {
        let l = b.upload(&logits, t, experts).unwrap();
        let r = b.route_topk(&l, k, true).unwrap();
        let x = b.upload(&xs, t, cols).unwrap();
        let y = b.matmul_selected(&x, &st.gpu, &r).unwrap();
        b.download(&b.combine_selected(&y, &r).unwrap()).unwrap()
    };
    let want = {
        let l = c.upload(&logits, t, experts).unwrap();
        let r = c.route_topk(&l, k, true).unwrap();
        let x = c.upload(&xs, t, cols).unwrap();
        let y = c.matmul_selected(&x, &st.cpu, &r).unwrap();
        c.download(&c.combine_selected(&y, &r).unwrap()).unwrap()
    };
    // Bounded by Σ_j weight · Σ |w|·|x| ≤ max over experts of Σ |w|·|x| (weights sum to 1).
    for tok in 0..t {
        let x_row = &xs[tok * cols..(tok + 1) * cols];
        for col in 0..n {
            let m = st
                .magnitude
                .iter()
                .map(|mag| {
                    (0..cols)
                        .map(|j| mag[col * cols + j] * x_row[j].abs() as f64)
                        .sum::<f64>()
                })
                .fold(0.0, f64::max);
            let (g, w) = (got[tok * n + col] as f64, want[tok * n + col] as f64);
            assert!(
                (g - w).abs() <= 2e-5 * m + 1e-30,
                "token {tok} column {col}: got {g}, want {w}"
            );
        }
    }
}

#[test]
fn an_entry_larger_than_a_chunk_is_refused_with_the_numbers() {
    let Some(b) = chunked() else { return };
    let mut case = Case::new("selected_split_too_large");
    let format: QuantFormat = "q4".parse().unwrap();
    let w = formats::random_weight(&mut case, format, 128, 64).data;
    match b.weight_stack(vec![w.clone(), w]) {
        Err(ComputeError::Unsupported(message)) => {
            assert!(message.contains("4608 bytes"), "{message}");
            assert!(message.contains("2984 bytes"), "{message}");
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("a 4608-byte entry was stacked in 3000-byte chunks"),
    }
}

#[test]
fn many_selections_of_rows_not_a_multiple_of_the_rows_per_workgroup() {
    let Some(b) = chunked() else { return };
    let c = cpu();
    // 150 selections of 33 rows: 4950 rows in all, so each workgroup takes 4 rows and the last
    // group of every selection straddles the entry's end.
    let mut case = Case::new("selected_split_many");
    let (experts, n, cols, t, k) = (12, 33, 64, 50, 3);
    let st = stacks(b, &c, &mut case, "q8_0", experts, n, cols);
    assert!(st.gpu.chunks() >= 3);
    let ids: Vec<f32> = (0..t * k).map(|_| case.below(experts) as f32).collect();
    let route_values = routes(&mut case, &ids, k);
    let xs = case.values(t * cols, -1.0, 1.0);
    let got = {
        let x = b.upload(&xs, t, cols).unwrap();
        let r = b.upload(&route_values, t, 2 * k).unwrap();
        b.download(&b.matmul_selected(&x, &st.gpu, &r).unwrap())
            .unwrap()
    };
    let want = {
        let x = c.upload(&xs, t, cols).unwrap();
        let r = c.upload(&route_values, t, 2 * k).unwrap();
        c.download(&c.matmul_selected(&x, &st.cpu, &r).unwrap())
            .unwrap()
    };
    for (s, &id) in ids.iter().enumerate() {
        let xr = s / k;
        assert_row(
            "q8_0 [33, 64], 150 selections",
            &got,
            &want,
            s,
            n,
            &st.magnitude[id as usize],
            &xs[xr * cols..(xr + 1) * cols],
        );
    }
}
