//! Helpers shared by the integration tests.
#![allow(dead_code)]

use floe_quant::{QuantFormat, ScaleType};

/// Every format floe implements.
pub fn all_formats() -> Vec<QuantFormat> {
    let mut formats = vec![
        QuantFormat::F32,
        QuantFormat::F16,
        QuantFormat::Bf16,
        QuantFormat::Q8_0,
    ];
    for bits in [2, 4, 8] {
        for group in [32, 64, 128] {
            for scale in [ScaleType::Bf16, ScaleType::F16, ScaleType::F32] {
                formats.push(QuantFormat::affine(bits, group, scale).unwrap());
            }
        }
    }
    formats
}

/// A small deterministic generator (xorshift64*), so tests need no seeding crate.
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// A uniform u64.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A uniform f32 in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    /// Values shaped like weights: per-row offset and scale, so groups are both one-signed and
    /// mixed-sign.
    pub fn weights(&mut self, rows: usize, cols: usize) -> Vec<f32> {
        let mut v = Vec::with_capacity(rows * cols);
        for _ in 0..rows {
            let scale = 0.05 + self.uniform().abs() * 2.0;
            let offset = self.uniform() * scale;
            for _ in 0..cols {
                v.push(offset + self.uniform() * scale);
            }
        }
        v
    }
}

/// The unit roundoff `u = 2^-p` of a scale type with `p` significant bits (bf16 2^-8, f16
/// 2^-11, f32 2^-24): round to nearest changes a normal value by at most `u` relatively; and
/// the largest absolute rounding error in its subnormal range (half its smallest subnormal).
pub fn rounding(scale: ScaleType) -> (f64, f64) {
    match scale {
        ScaleType::Bf16 => (2f64.powi(-8), 2f64.powi(-134)),
        ScaleType::F16 => (2f64.powi(-11), 2f64.powi(-25)),
        ScaleType::F32 => (2f64.powi(-24), 2f64.powi(-150)),
    }
}
