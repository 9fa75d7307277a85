//! Random weights in every storage format, and an f64 decoder of those formats written
//! independently of floe-quant (so that a backend's dequantization is checked against the
//! format's definition, not against another implementation of it).
//!
//! Layouts (see [`floe_quant::QuantFormat`]): float formats are little-endian values, row-major.
//! Q8_0 rows are blocks of an f16 scale `d` and 32 signed bytes `q`, value `d · q`. Affine
//! formats are three planes: packed codes (little-endian u32 words holding `32 / bits` codes,
//! least significant first, row-major), then the scales and the biases (one per group of
//! `group_size` values, `[rows, cols / group_size]`, in the scale type); value `q · scale + bias`.

use bytes::Bytes;
use floe_quant::{AffineSpec, QuantFormat, ScaleType};
use half::{bf16, f16};

use super::Case;
use crate::WeightData;

/// A weight as a backend receives it, and its values as the reference reads them.
#[derive(Clone, Debug)]
pub struct RefWeight {
    /// The weight to hand to the backend.
    pub data: WeightData,
    /// Its values, row-major, decoded exactly in f64.
    pub values: Vec<f64>,
    /// Per value, the magnitude of what its f32 dequantization adds up: `|v|` for floats,
    /// `|d·q|` for Q8_0, `|q·scale| + |bias|` for affine formats. Tolerances scale with it.
    pub magnitude: Vec<f64>,
}

/// Parses a format name, failing the test on a bad one.
pub fn parse_format(name: &str) -> QuantFormat {
    name.parse()
        .unwrap_or_else(|e| panic!("bad format in a conformance case: {e}"))
}

/// The f32 value of an element of a scale plane.
fn read_scale(ty: ScaleType, b: &[u8]) -> f64 {
    match ty {
        ScaleType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
        ScaleType::F16 => f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f64(),
        ScaleType::Bf16 => bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f64(),
    }
}

fn write_scale(ty: ScaleType, v: f32, out: &mut Vec<u8>) {
    match ty {
        ScaleType::F32 => out.extend_from_slice(&v.to_le_bytes()),
        ScaleType::F16 => out.extend_from_slice(&f16::from_f32(v).to_bits().to_le_bytes()),
        ScaleType::Bf16 => out.extend_from_slice(&bf16::from_f32(v).to_bits().to_le_bytes()),
    }
}

/// A random `[rows, cols]` weight in `format`: float values uniform in `[-1, 1)`, quantized
/// codes uniform over their whole range with scales and biases that keep values near `[-1, 1]`
/// (a few scales negative, as formats allow).
pub fn random_weight(case: &mut Case, format: QuantFormat, rows: usize, cols: usize) -> RefWeight {
    let n = rows * cols;
    let mut bytes = Vec::new();
    match format {
        QuantFormat::F32 => {
            (0..n).for_each(|_| bytes.extend_from_slice(&case.uniform(-1.0, 1.0).to_le_bytes()))
        }
        QuantFormat::F16 | QuantFormat::Bf16 => {
            let ty = if format == QuantFormat::F16 {
                ScaleType::F16
            } else {
                ScaleType::Bf16
            };
            (0..n).for_each(|_| write_scale(ty, case.uniform(-1.0, 1.0), &mut bytes));
        }
        QuantFormat::Q8_0 => {
            for _ in 0..n / 32 {
                let sign = if case.below(8) == 0 { -1.0 } else { 1.0 };
                write_scale(
                    ScaleType::F16,
                    sign * case.uniform(0.5, 1.5) / 127.0,
                    &mut bytes,
                );
                (0..32).for_each(|_| bytes.push(case.next_u64() as u8));
            }
        }
        QuantFormat::Affine(spec) => {
            let groups = n / spec.group_size as usize;
            (0..n * spec.bits as usize / 8).for_each(|_| bytes.push(case.next_u64() as u8));
            let levels = ((1u32 << spec.bits) - 1) as f32;
            for _ in 0..groups {
                let sign = if case.below(8) == 0 { -1.0 } else { 1.0 };
                write_scale(
                    spec.scale,
                    sign * case.uniform(1.0, 2.0) / levels,
                    &mut bytes,
                );
            }
            (0..groups).for_each(|_| write_scale(spec.scale, case.uniform(-1.0, 0.0), &mut bytes));
        }
    }
    let data = WeightData {
        format,
        rows,
        cols,
        bytes: Bytes::from(bytes),
    };
    let (values, magnitude) = decode(&data);
    RefWeight {
        data,
        values,
        magnitude,
    }
}

/// Decodes a weight's bytes in f64: `(values, magnitudes)` as in [`RefWeight`].
pub fn decode(w: &WeightData) -> (Vec<f64>, Vec<f64>) {
    let (rows, cols, b) = (w.rows, w.cols, &w.bytes[..]);
    let n = rows * cols;
    let values: Vec<f64> = match w.format {
        QuantFormat::F32 => b
            .chunks_exact(4)
            .map(|c| read_scale(ScaleType::F32, c))
            .collect(),
        QuantFormat::F16 => b
            .chunks_exact(2)
            .map(|c| read_scale(ScaleType::F16, c))
            .collect(),
        QuantFormat::Bf16 => b
            .chunks_exact(2)
            .map(|c| read_scale(ScaleType::Bf16, c))
            .collect(),
        QuantFormat::Q8_0 => {
            let parts: Vec<(f64, f64)> = b
                .chunks_exact(34)
                .flat_map(|block| {
                    let d = read_scale(ScaleType::F16, &block[..2]);
                    block[2..]
                        .iter()
                        .map(move |&q| (d * (q as i8) as f64, (d * (q as i8) as f64).abs()))
                })
                .collect();
            return parts.into_iter().unzip();
        }
        QuantFormat::Affine(spec) => return decode_affine(spec, rows, cols, b),
    };
    debug_assert_eq!(values.len(), n);
    let magnitude = values.iter().map(|v| v.abs()).collect();
    (values, magnitude)
}

fn decode_affine(spec: AffineSpec, rows: usize, cols: usize, b: &[u8]) -> (Vec<f64>, Vec<f64>) {
    let (bits, group) = (spec.bits as usize, spec.group_size as usize);
    let per_word = 32 / bits;
    let groups = rows * cols / group;
    let packed_len = rows * cols * bits / 8;
    let size = spec.scale.size();
    let scales = &b[packed_len..packed_len + groups * size];
    let biases = &b[packed_len + groups * size..];
    let mut values = Vec::with_capacity(rows * cols);
    let mut magnitude = Vec::with_capacity(rows * cols);
    for i in 0..rows * cols {
        let w = &b[(i / per_word) * 4..(i / per_word) * 4 + 4];
        let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        let q = ((word >> ((i % per_word) * bits)) & ((1u32 << bits) - 1)) as f64;
        let g = i / group;
        let scale = read_scale(spec.scale, &scales[g * size..(g + 1) * size]);
        let bias = read_scale(spec.scale, &biases[g * size..(g + 1) * size]);
        values.push(q * scale + bias);
        magnitude.push((q * scale).abs() + bias.abs());
    }
    (values, magnitude)
}
