//! One stored row, split into the byte runs each kernel reads.

use crate::ScaleType;

/// The bytes of one row of a stored matrix, by format.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Row<'a> {
    /// `cols` little-endian f32.
    F32(&'a [u8]),
    /// `cols` little-endian f16.
    F16(&'a [u8]),
    /// `cols` little-endian bf16.
    Bf16(&'a [u8]),
    /// `cols / 32` blocks of 34 bytes.
    Q8_0(&'a [u8]),
    /// An affine row: its packed words, scales and biases.
    Affine(AffineRow<'a>),
}

/// The three runs of bytes one affine row occupies, one in each plane.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AffineRow<'a> {
    /// Bits per value: 2, 4 or 8.
    pub bits: u8,
    /// Values per group.
    pub group: usize,
    /// Element type of `scales` and `biases`.
    pub scale_type: ScaleType,
    /// `cols · bits / 8` bytes: little-endian u32 words, `32 / bits` values each.
    pub packed: &'a [u8],
    /// `cols / group` scales.
    pub scales: &'a [u8],
    /// `cols / group` biases.
    pub biases: &'a [u8],
}

impl AffineRow<'_> {
    /// The scale and bias of group `g`, widened to f32.
    #[inline(always)]
    pub fn scale_bias(&self, g: usize) -> (f32, f32) {
        (
            crate::convert::scale_at(self.scale_type, self.scales, g),
            crate::convert::scale_at(self.scale_type, self.biases, g),
        )
    }
}
