//! The quantization-format descriptor: what a format is called, how its values are grouped into
//! blocks, and how many bytes a matrix of a given shape takes.
//!
//! # Storage layouts
//!
//! Every format stores a `[rows, cols]` matrix row-major; all multi-byte numbers are little-endian
//! and no alignment is required. `cols` must be a non-zero multiple of the format's
//! [`QuantFormat::block_values`].
//!
//! ## `f32`, `f16`, `bf16`
//!
//! `rows · cols` elements of IEEE binary32, IEEE binary16 or bfloat16 (the top 16 bits of a
//! binary32), row after row. Quantizing rounds to nearest, ties to even; NaN and infinities are
//! stored as they are, a finite value that overflows f16 is an error.
//!
//! ## `q8_0` (GGUF Q8_0)
//!
//! Each row is `cols / 32` blocks of 34 bytes: an f16 scale `d`, then 32 `i8` values `q`;
//! value `i` of the block is `d · q[i]`. Quantization follows ggml's `quantize_row_q8_0_ref`:
//! `d = max|x| / 127`, `q = round(x · (1 / d))` (half away from zero; `q = 0` when `d = 0`),
//! `d` stored rounded to f16. The file bytes equal GGUF's `block_q8_0` array for the row.
//!
//! ## Affine `affine<bits>-g<group>-<scale>` (`q4`, `q2`; MLX-compatible)
//!
//! `bits` ∈ {2, 4, 8}, `group` ∈ {32, 64, 128}, scale type ∈ {`bf16`, `f16`, `f32`}. The matrix is
//! three planes back to back, each exactly MLX's tensor of the same name:
//!
//! 1. `weight`: per row `cols · bits / 32` u32 words; word `w` holds values
//!    `w · 32/bits .. (w + 1) · 32/bits`, value `i` of the word in bits `[i·bits, (i+1)·bits)`
//!    (least significant first). `rows · cols · bits / 8` bytes.
//! 2. `scales`: `[rows, cols / group]` elements of the scale type.
//! 3. `biases`: `[rows, cols / group]` elements of the scale type.
//!
//! Value `c` of row `r` is `q · scales[r][c / group] + biases[r][c / group]`, with `q` the
//! unsigned `bits`-bit field. floe computes it in f32, multiplied then added (MLX's Metal
//! matrix-vector kernels also accumulate in f32; `mlx.core.dequantize` instead rounds the product
//! to the scale type before adding, which can differ by a few ulps of that type).
//!
//! Quantization reproduces `mlx.core.quantize(w, group_size, bits, mode="affine")` bit for bit:
//! per group, with `n = 2^bits − 1` and all arithmetic in f32,
//! `edge` = whichever of min and max has the larger magnitude (the min only when
//! `|min| > |max|`), `scale = max((max − min) / n, 1e-7)`, negated when `edge` is the max;
//! `q0 = rint(edge / scale)`, and if `q0 ≠ 0`, `scale = edge / q0` and `bias = edge` (so that 0 is
//! exactly on the grid), else `bias = 0`; `q = clamp(rint((x − bias) / scale), 0, n)` with the
//! unrounded scale and bias; finally `scale` and `bias` are stored rounded to nearest (ties to
//! even) in the scale type. `rint` rounds half to even. NaN or infinite inputs, and groups whose
//! scale or bias overflows the scale type, are errors.
//!
//! Per-row plane sizes are [`QuantFormat::row_plane_bytes`]; plane `p` of a matrix starts after
//! `rows · row_plane_bytes[p']` bytes for every earlier plane `p'`. Quantization is row-local, so
//! quantizing rows `r0..r1` alone gives, in each plane, exactly the bytes at
//! `r0 · row_plane_bytes[p]` of that plane in the whole matrix.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::QuantError;

/// The element type of the per-group scales and biases of an affine format.
///
/// MLX writes them in the dtype of the unquantized weights, so checkpoints carry bf16, f16 or f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScaleType {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    Bf16,
}

impl ScaleType {
    /// Bytes taken by one scale or bias.
    pub fn size(self) -> usize {
        match self {
            ScaleType::F32 => 4,
            ScaleType::F16 | ScaleType::Bf16 => 2,
        }
    }

    /// The name used in format strings: `f32`, `f16` or `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            ScaleType::F32 => "f32",
            ScaleType::F16 => "f16",
            ScaleType::Bf16 => "bf16",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "f32" => Some(ScaleType::F32),
            "f16" => Some(ScaleType::F16),
            "bf16" => Some(ScaleType::Bf16),
            _ => None,
        }
    }
}

/// The parameters of an MLX-style affine format: `value = q · scale + bias` per group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AffineSpec {
    /// Bits per quantized value: 2, 4 or 8.
    pub bits: u8,
    /// Values sharing one scale and one bias: 32, 64 or 128.
    pub group_size: u16,
    /// Element type of the scales and biases.
    pub scale: ScaleType,
}

/// A storage format for a weight matrix.
///
/// Every format stores a `[rows, cols]` matrix row-major, and every format but the affine ones
/// stores each row as one contiguous run of blocks. The affine formats are byte-compatible with
/// MLX: the matrix is three planes one after the other, each exactly as MLX stores its tensor
/// (`weight` as u32 words holding `32 / bits` values least-significant first, then `scales`,
/// then `biases`, each `[rows, cols / group_size]`). See `docs/format.md` for the byte layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantFormat {
    /// Little-endian f32.
    F32,
    /// Little-endian IEEE f16.
    F16,
    /// Little-endian bfloat16.
    Bf16,
    /// GGUF Q8_0: blocks of 32 values, each block an f16 scale followed by 32 signed bytes.
    Q8_0,
    /// MLX affine quantization (see [`AffineSpec`]).
    Affine(AffineSpec),
}

impl QuantFormat {
    /// MLX affine 4-bit, group 64, bf16 scales and biases: the `q4` of the CLI.
    pub const Q4: QuantFormat = QuantFormat::Affine(AffineSpec {
        bits: 4,
        group_size: 64,
        scale: ScaleType::Bf16,
    });
    /// MLX affine 2-bit, group 64, bf16 scales and biases: the `q2` of the CLI.
    pub const Q2: QuantFormat = QuantFormat::Affine(AffineSpec {
        bits: 2,
        group_size: 64,
        scale: ScaleType::Bf16,
    });

    /// Builds an affine format, checking that its parameters are ones floe implements.
    pub fn affine(bits: u8, group_size: u16, scale: ScaleType) -> Result<Self, QuantError> {
        if !matches!(bits, 2 | 4 | 8) {
            return Err(QuantError::Unsupported(format!(
                "affine quantization with {bits} bits (floe supports 2, 4 and 8)"
            )));
        }
        if !matches!(group_size, 32 | 64 | 128) {
            return Err(QuantError::Unsupported(format!(
                "affine group size {group_size} (floe supports 32, 64 and 128)"
            )));
        }
        Ok(QuantFormat::Affine(AffineSpec {
            bits,
            group_size,
            scale,
        }))
    }

    /// The canonical name: `f32`, `f16`, `bf16`, `q8_0`, `q4`, `q2`, or for other affine
    /// parameters `affine<bits>-g<group>-<scale>` (e.g. `affine4-g32-f16`).
    pub fn name(&self) -> String {
        match *self {
            QuantFormat::F32 => "f32".into(),
            QuantFormat::F16 => "f16".into(),
            QuantFormat::Bf16 => "bf16".into(),
            QuantFormat::Q8_0 => "q8_0".into(),
            f if f == Self::Q4 => "q4".into(),
            f if f == Self::Q2 => "q2".into(),
            QuantFormat::Affine(a) => {
                format!("affine{}-g{}-{}", a.bits, a.group_size, a.scale.name())
            }
        }
    }

    /// Values per block: 1 for plain floats, 32 for Q8_0, the group size for affine formats.
    /// A row's length must be a multiple of it.
    pub fn block_values(&self) -> usize {
        match *self {
            QuantFormat::F32 | QuantFormat::F16 | QuantFormat::Bf16 => 1,
            QuantFormat::Q8_0 => 32,
            QuantFormat::Affine(a) => a.group_size as usize,
        }
    }

    /// Bytes per block, counting scales and biases: 4/2/2 for floats, 34 for Q8_0,
    /// `group·bits/8 + 2·scale size` for affine formats.
    pub fn block_bytes(&self) -> usize {
        match *self {
            QuantFormat::F32 => 4,
            QuantFormat::F16 | QuantFormat::Bf16 => 2,
            QuantFormat::Q8_0 => 34,
            QuantFormat::Affine(a) => {
                a.group_size as usize * a.bits as usize / 8 + 2 * a.scale.size()
            }
        }
    }

    /// Average bits per weight including scales and biases (4.5 for `q4`, 8.5 for `q8_0`).
    pub fn bits_per_weight(&self) -> f64 {
        self.block_bytes() as f64 * 8.0 / self.block_values() as f64
    }

    /// Whether values are quantized (as opposed to stored as floats).
    pub fn is_quantized(&self) -> bool {
        matches!(self, QuantFormat::Q8_0 | QuantFormat::Affine(_))
    }

    /// Checks that a `[rows, cols]` matrix can be stored in this format (and, for an affine
    /// format built directly rather than by [`QuantFormat::affine`], that its parameters are
    /// ones floe implements).
    pub fn check_shape(&self, rows: usize, cols: usize) -> Result<(), QuantError> {
        if let QuantFormat::Affine(a) = *self {
            QuantFormat::affine(a.bits, a.group_size, a.scale)?;
        }
        let block = self.block_values();
        if cols == 0 || !cols.is_multiple_of(block) {
            return Err(QuantError::Shape(format!(
                "a row of {cols} values cannot be stored as {}: rows must be a non-zero multiple of {block}",
                self.name()
            )));
        }
        let _ = rows;
        Ok(())
    }

    /// Bytes per row in each plane of the storage. A stored matrix is its planes one after the
    /// other, plane `p` holding `rows · row_plane_bytes(cols)[p]` bytes, row by row. Float formats
    /// and Q8_0 have one plane; affine formats have three (packed values, scales, biases), as MLX
    /// stores `weight`, `scales` and `biases`. A writer that quantizes a matrix a chunk of rows at a
    /// time places each plane's part of the chunk at its own offset.
    pub fn row_plane_bytes(&self, cols: usize) -> Vec<usize> {
        let (planes, count) = self.row_planes(cols);
        planes[..count].to_vec()
    }

    /// [`QuantFormat::row_plane_bytes`] without allocating: the bytes per row of each plane, and
    /// how many planes there are (1 or 3; unused entries are 0).
    pub(crate) fn row_planes(&self, cols: usize) -> ([usize; 3], usize) {
        match *self {
            QuantFormat::Affine(a) => {
                // (A group size of 0 only exists in a hand-built, invalid spec.)
                let groups = cols.checked_div(a.group_size as usize).unwrap_or(0);
                let side = groups * a.scale.size();
                ([cols * a.bits as usize / 8, side, side], 3)
            }
            _ => ([cols / self.block_values() * self.block_bytes(), 0, 0], 1),
        }
    }

    /// Bytes taken by a `[rows, cols]` matrix.
    pub fn matrix_bytes(&self, rows: usize, cols: usize) -> Result<usize, QuantError> {
        self.check_shape(rows, cols)?;
        rows.checked_mul(cols / self.block_values())
            .and_then(|blocks| blocks.checked_mul(self.block_bytes()))
            .ok_or_else(|| QuantError::Shape(format!("[{rows}, {cols}] overflows usize")))
    }
}

impl fmt::Display for QuantFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for QuantFormat {
    type Err = QuantError;

    /// Parses a canonical name (see [`QuantFormat::name`]); `q8` is accepted for `q8_0`.
    fn from_str(s: &str) -> Result<Self, QuantError> {
        let unknown = || {
            QuantError::Unsupported(format!(
                "unknown format '{s}' (expected f32, f16, bf16, q8_0, q4, q2 or affine<bits>-g<group>-<f32|f16|bf16>)"
            ))
        };
        Ok(match s {
            "f32" => QuantFormat::F32,
            "f16" => QuantFormat::F16,
            "bf16" => QuantFormat::Bf16,
            "q8_0" | "q8" => QuantFormat::Q8_0,
            "q4" => Self::Q4,
            "q2" => Self::Q2,
            other => {
                let rest = other.strip_prefix("affine").ok_or_else(unknown)?;
                let mut parts = rest.split('-');
                let bits = parts
                    .next()
                    .and_then(|b| b.parse().ok())
                    .ok_or_else(unknown)?;
                let group = parts
                    .next()
                    .and_then(|g| g.strip_prefix('g'))
                    .and_then(|g| g.parse().ok())
                    .ok_or_else(unknown)?;
                let scale = parts
                    .next()
                    .and_then(ScaleType::parse)
                    .ok_or_else(unknown)?;
                if parts.next().is_some() {
                    return Err(unknown());
                }
                QuantFormat::affine(bits, group, scale)?
            }
        })
    }
}

impl Serialize for QuantFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for QuantFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
