//! Fast random weights written straight in their storage format.
//!
//! Values have mean 0 and standard deviation `1 / sqrt(cols)`, so a matrix-vector product keeps
//! its input's scale and activations stay finite through any number of layers. Quantized formats
//! are generated as random codes with one fixed, finite scale (and bias): no f32 round trip, so
//! gigabytes take seconds.

use floe_quant::{QuantFormat, ScaleType};
use half::{bf16, f16};

/// A small, fast PRNG (wyrand). Not for cryptography; plenty for weights and routing.
#[derive(Clone, Debug)]
pub struct WyRand {
    state: u64,
}

impl WyRand {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed ^ 0x2d35_8dcc_aa6c_78a5,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.state) * u128::from(self.state ^ 0xe703_7ed1_a0b4_28db);
        (t as u64) ^ ((t >> 64) as u64)
    }

    /// A uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut chunks = out.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// Writes the storage of `rows` random rows of a `cols`-wide matrix in `format` into `out`, which
/// must be exactly `format.matrix_bytes(rows, cols)` long (planes of these rows one after the
/// other, as `floe_quant::quantize` lays them out).
pub fn random_rows(
    rng: &mut WyRand,
    format: QuantFormat,
    rows: usize,
    cols: usize,
    out: &mut [u8],
) {
    let std = 1.0 / (cols as f64).sqrt();
    match format {
        QuantFormat::Affine(a) => {
            let planes = format.row_plane_bytes(cols);
            let levels = f64::from(1u32 << a.bits);
            // A uniform code in 0..levels has standard deviation sqrt((levels² - 1) / 12).
            let scale = std / ((levels * levels - 1.0) / 12.0).sqrt();
            let bias = -scale * (levels - 1.0) / 2.0;
            let (codes, rest) = out.split_at_mut(rows * planes[0]);
            rng.fill(codes);
            let (scales, biases) = rest.split_at_mut(rows * planes[1]);
            repeat(scales, &scalar(a.scale, scale));
            repeat(biases, &scalar(a.scale, bias));
        }
        QuantFormat::Q8_0 => {
            // Codes uniform on -128..=127 have standard deviation ~73.9.
            let scale = f16::from_f64(std / 73.9).to_le_bytes();
            rng.fill(out);
            for block in out.chunks_exact_mut(34) {
                block[..2].copy_from_slice(&scale);
            }
        }
        QuantFormat::F32 | QuantFormat::F16 | QuantFormat::Bf16 => {
            // Uniform on [-h, h] has standard deviation h / sqrt(3).
            let half_width = std * 3f64.sqrt();
            let width = match format {
                QuantFormat::F32 => 4,
                _ => 2,
            };
            for value in out.chunks_exact_mut(width) {
                let x = (rng.next_f64() * 2.0 - 1.0) * half_width;
                match format {
                    QuantFormat::F32 => value.copy_from_slice(&(x as f32).to_le_bytes()),
                    QuantFormat::F16 => value.copy_from_slice(&f16::from_f64(x).to_le_bytes()),
                    _ => value.copy_from_slice(&bf16::from_f64(x).to_le_bytes()),
                }
            }
        }
    }
}

fn scalar(kind: ScaleType, value: f64) -> Vec<u8> {
    match kind {
        ScaleType::F32 => (value as f32).to_le_bytes().to_vec(),
        ScaleType::F16 => f16::from_f64(value).to_le_bytes().to_vec(),
        ScaleType::Bf16 => bf16::from_f64(value).to_le_bytes().to_vec(),
    }
}

fn repeat(out: &mut [u8], pattern: &[u8]) {
    for chunk in out.chunks_exact_mut(pattern.len()) {
        chunk.copy_from_slice(pattern);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dequantized(format: QuantFormat, rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut bytes = vec![0u8; format.matrix_bytes(rows, cols).unwrap()];
        random_rows(&mut WyRand::new(seed), format, rows, cols, &mut bytes);
        let matrix = floe_quant::QuantMatrix::new(format, rows, cols, &bytes).unwrap();
        let mut out = vec![0f32; rows * cols];
        matrix.dequantize(&mut out);
        out
    }

    #[test]
    fn every_format_gets_finite_values_of_the_intended_scale() {
        let (rows, cols) = (64, 256);
        let target = 1.0 / (cols as f64).sqrt();
        for format in [
            QuantFormat::Q4,
            QuantFormat::Q2,
            QuantFormat::Q8_0,
            QuantFormat::Bf16,
            QuantFormat::F32,
        ] {
            let values = dequantized(format, rows, cols, 7);
            assert!(values.iter().all(|v| v.is_finite()), "{format}");
            let n = values.len() as f64;
            let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let std = (values
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n)
                .sqrt();
            assert!(mean.abs() < 0.2 * target, "{format}: mean {mean}");
            assert!(
                (std / target - 1.0).abs() < 0.15,
                "{format}: std {std} vs {target}"
            );
        }
    }

    #[test]
    fn generation_is_deterministic_per_seed() {
        assert_eq!(
            dequantized(QuantFormat::Q4, 4, 64, 1),
            dequantized(QuantFormat::Q4, 4, 64, 1)
        );
        assert_ne!(
            dequantized(QuantFormat::Q4, 4, 64, 1),
            dequantized(QuantFormat::Q4, 4, 64, 2)
        );
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = WyRand::new(3);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            seen[rng.below(5) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
