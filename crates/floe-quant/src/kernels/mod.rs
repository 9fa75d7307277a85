//! The compute kernels behind [`crate::QuantMatrix`], chosen once at run time for this CPU.
//!
//! Each kernel exists for several instruction sets ([`Isa`]): a portable scalar version (the
//! reference the others are tested against, and the fallback on every other CPU), AVX2 + FMA +
//! F16C, and AVX-512F on x86-64. The best one this CPU supports is detected on first use with
//! `is_x86_feature_detected!`; the environment variable `FLOE_QUANT_ISA` (`scalar`, `avx2` or
//! `avx512`) caps the choice, e.g. to compare kernels in benchmarks.
//!
//! The affine dot kernels compute `Σ_g scale_g · (q·x)_g + bias_g · Σx_g`: per group one
//! vector of `q·x` fused multiply-adds, one multiply-add by the scale, and the bias times the
//! group's sum of `x` (computed on the fly, or once per input by
//! [`crate::QuantMatrix::prepare`]). Dequantization computes `q·scale + bias` multiplied then
//! added, so every instruction set gives bit-identical dequantized values; dot products differ
//! between instruction sets only by f32 rounding (association order and fused multiply-adds).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub(crate) mod scalar;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU8, Ordering};

use crate::prepared::PreparedInput;
use crate::row::{AffineRow, Row};

/// An instruction set the kernels are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable scalar Rust.
    Scalar,
    /// x86-64 AVX2 with FMA and F16C (8 f32 lanes).
    Avx2,
    /// x86-64 AVX-512F, with AVX2, FMA and F16C (16 f32 lanes).
    Avx512,
}

impl Isa {
    /// The best instruction set this CPU supports.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c");
            if avx2 && is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if avx2 {
                return Isa::Avx2;
            }
        }
        Isa::Scalar
    }

    /// The instruction set the kernels use: [`Isa::detect`], capped by `FLOE_QUANT_ISA` if set
    /// to `scalar`, `avx2` or `avx512` (other values are ignored). Decided once per process.
    pub fn active() -> Isa {
        static ACTIVE: AtomicU8 = AtomicU8::new(u8::MAX);
        match ACTIVE.load(Ordering::Relaxed) {
            0 => Isa::Scalar,
            1 => Isa::Avx2,
            2 => Isa::Avx512,
            _ => {
                let detected = Isa::detect();
                let cap = std::env::var("FLOE_QUANT_ISA")
                    .ok()
                    .and_then(|v| Isa::parse(&v));
                let isa = cap.map_or(detected, |cap| cap.min(detected));
                ACTIVE.store(isa as u8, Ordering::Relaxed);
                isa
            }
        }
    }

    /// The name used by `FLOE_QUANT_ISA`: `scalar`, `avx2` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    fn parse(s: &str) -> Option<Isa> {
        [Isa::Scalar, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .find(|i| i.name() == s)
    }
}

/// Dequantizes `row` into `out` with the kernels of `isa` (which this CPU must support).
pub(crate) fn dequantize_with(isa: Isa, row: Row<'_>, out: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is at most `Isa::detect()`, so the CPU has AVX2, FMA and F16C.
        Isa::Avx2 | Isa::Avx512 => unsafe { avx2::dequantize(row, out) },
        _ => scalar::dequantize(row, out),
    }
}

/// The dot product of `row` with `x` with the kernels of `isa` (which this CPU must support);
/// `x_sums` optionally holds the per-group sums of `x` for an affine row.
pub(crate) fn dot_with(isa: Isa, row: Row<'_>, x: &[f32], x_sums: Option<&[f32]>) -> f32 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is at most `Isa::detect()`, so the CPU has AVX2, FMA and F16C.
        Isa::Avx2 => unsafe { avx2::dot(row, x, x_sums) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, plus AVX-512F.
        Isa::Avx512 => unsafe { avx512::dot(row, x, x_sums) },
        _ => match (row, x_sums) {
            (Row::Affine(a), Some(sums)) => scalar::dot_affine(a, x, sums.iter().copied()),
            _ => scalar::dot(row, x),
        },
    }
}

/// Dequantizes `row` into `out`.
pub(crate) fn dequantize(row: Row<'_>, out: &mut [f32]) {
    dequantize_with(Isa::active(), row, out)
}

/// The dot product of `row` with `x`.
pub(crate) fn dot(row: Row<'_>, x: &[f32]) -> f32 {
    dot_with(Isa::active(), row, x, None)
}

/// The dot product of an affine row with a prepared input.
pub(crate) fn dot_affine_prepared(row: AffineRow<'_>, prepared: &PreparedInput) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        let (x, sums) = (&prepared.x_split, &prepared.group_sums);
        // SAFETY: the split copy of unit 16 (32) is only made when the active ISA is AVX2
        // (AVX-512), and the caller checked that `prepared` belongs to this (4-bit) format.
        match prepared.split_unit {
            16 => return unsafe { avx2::dot_affine4_split(row, x, sums) },
            32 => return unsafe { avx512::dot_affine4_split(row, x, sums) },
            _ => {}
        }
    }
    dot_with(
        Isa::active(),
        Row::Affine(row),
        &prepared.x,
        Some(&prepared.group_sums),
    )
}

/// The sum of `x`.
pub(crate) fn sum_f32(x: &[f32]) -> f32 {
    match Isa::active() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the active ISA is supported by this CPU.
        Isa::Avx2 | Isa::Avx512 => unsafe { avx2::sum_f32(x) },
        _ => x.iter().sum(),
    }
}

/// `dot_f32` with the kernels of `isa` (which this CPU must support).
pub(crate) fn dot_f32_with(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is at most `Isa::detect()`, so the CPU has AVX2 and FMA.
        Isa::Avx2 => unsafe { avx2::dot_f32(a, b) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, plus AVX-512F.
        Isa::Avx512 => unsafe { avx512::dot_f32(a, b) },
        _ => scalar::dot_f32(a, b),
    }
}

/// The dot product of two f32 slices of equal length, by the fastest kernel this CPU supports
/// (for prefill: dequantize a row once with [`crate::QuantMatrix::dequantize_row`], then dot it
/// with many inputs).
///
/// # Panics
/// If the lengths differ.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(
        a.len(),
        b.len(),
        "dot_f32 of slices of lengths {} and {}",
        a.len(),
        b.len()
    );
    dot_f32_with(Isa::active(), a, b)
}
