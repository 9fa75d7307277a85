//! Every instruction set's kernels against the scalar reference, for every format and for
//! awkward lengths.

use super::{dequantize_with, dot_f32_with, dot_with, Isa};
use crate::prepared::nibble_split;
use crate::row::{AffineRow, Row};
use crate::{quantize, AffineSpec, QuantFormat, QuantMatrix, ScaleType};

type SplitDot = fn(AffineRow<'_>, &[f32], &[f32]) -> f32;

/// The nibble-split 4-bit kernel of `isa`, as a function of the natural-order input.
fn split_dot(isa: Isa) -> Option<SplitDot> {
    match isa {
        Isa::Scalar => None,
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is supported by this CPU (see `supported`).
        Isa::Avx2 => Some(|a, x, sums| {
            let mut split = Vec::new();
            nibble_split(x, 16, &mut split);
            unsafe { super::avx2::dot_affine4_split(a, &split, sums) }
        }),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx512 => Some(|a, x, sums| {
            let mut split = Vec::new();
            nibble_split(x, 32, &mut split);
            unsafe { super::avx512::dot_affine4_split(a, &split, sums) }
        }),
        #[cfg(not(target_arch = "x86_64"))]
        _ => None,
    }
}

fn formats() -> Vec<QuantFormat> {
    let mut f = vec![
        QuantFormat::F32,
        QuantFormat::F16,
        QuantFormat::Bf16,
        QuantFormat::Q8_0,
    ];
    for bits in [2, 4, 8] {
        for group_size in [32, 64, 128] {
            for scale in [ScaleType::Bf16, ScaleType::F16, ScaleType::F32] {
                f.push(QuantFormat::Affine(AffineSpec {
                    bits,
                    group_size,
                    scale,
                }));
            }
        }
    }
    f
}

/// The instruction sets this CPU can run, the scalar one first.
fn supported() -> Vec<Isa> {
    [Isa::Scalar, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|&i| i <= Isa::detect())
        .collect()
}

fn lengths(format: QuantFormat) -> Vec<usize> {
    let block = format.block_values();
    if block == 1 {
        (1..=70).chain([127, 128, 129, 255, 1000]).collect()
    } else {
        (1..=5).chain([8, 17]).map(|b| b * block).collect()
    }
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

#[test]
fn simd_kernels_match_scalar() {
    let mut rng = Lcg(42);
    for format in formats() {
        for cols in lengths(format) {
            let rows = 3;
            let values: Vec<f32> = (0..rows * cols)
                .map(|i| rng.next() * (1.0 + (i % 7) as f32))
                .collect();
            let bytes = quantize(format, rows, cols, &values).unwrap();
            let m = QuantMatrix::new(format, rows, cols, &bytes).unwrap();
            let x: Vec<f32> = (0..cols).map(|_| rng.next()).collect();
            let sums: Vec<f32> = x
                .chunks(format.block_values())
                .map(|c| c.iter().sum())
                .collect();
            for r in 0..rows {
                let row = m.row(r);
                let mut reference = vec![0.0; cols];
                dequantize_with(Isa::Scalar, row, &mut reference);
                let expected = dot_with(Isa::Scalar, row, &x, None);
                // Bound on the f32 rounding of any association (see tests/dot.rs).
                let block = format.block_values().max(32);
                let magnitude: f32 = reference
                    .chunks(block)
                    .zip(x.chunks(block))
                    .map(|(w, x)| {
                        3.0 * w.iter().fold(0f32, |a, v| a.max(v.abs()))
                            * x.iter().map(|v| v.abs()).sum::<f32>()
                    })
                    .sum();
                let limit = 2.0 * (cols as f32 + 16.0) * f32::EPSILON / 2.0 * magnitude;
                for isa in supported() {
                    let mut out = vec![f32::NAN; cols];
                    dequantize_with(isa, row, &mut out);
                    let same = out
                        .iter()
                        .zip(&reference)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "{} dequantize of a {format} row of {cols}",
                        isa.name()
                    );
                    let with_sums = matches!(format, QuantFormat::Affine(_)).then_some(&sums[..]);
                    let mut results = vec![
                        ("dot", dot_with(isa, row, &x, None)),
                        ("dot with sums", dot_with(isa, row, &x, with_sums)),
                        ("dot_f32", dot_f32_with(isa, &reference, &x)),
                    ];
                    if let (Some(split), Row::Affine(a)) = (split_dot(isa), row) {
                        if a.bits == 4 {
                            results.push(("split dot", split(a, &x, &sums)));
                        }
                    }
                    for (what, got) in results {
                        assert!(
                            (got - expected).abs() <= limit,
                            "{} {what} of a {format} row of {cols}: {got} vs scalar {expected} (limit {limit})",
                            isa.name()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn detection_is_consistent() {
    assert!(Isa::active() <= Isa::detect());
    for isa in supported() {
        assert_eq!(Isa::parse(isa.name()), Some(isa));
    }
    assert_eq!(Isa::parse("sse"), None);
}

#[test]
fn nibble_split_orders_even_then_odd() {
    let x: Vec<f32> = (0..64).map(|v| v as f32).collect();
    let mut out = Vec::new();
    nibble_split(&x, 16, &mut out);
    assert_eq!(
        &out[..16],
        &[0., 2., 4., 6., 8., 10., 12., 14., 1., 3., 5., 7., 9., 11., 13., 15.]
    );
    assert_eq!(out[16], 16.0);
    nibble_split(&x, 32, &mut out);
    assert_eq!(out[15], 30.0);
    assert_eq!(out[16], 1.0);
    assert_eq!(out[31], 31.0);
    assert_eq!(out[32], 32.0);
}
