//! An input vector prepared once for many row·vector dot products with one matrix.

use crate::kernels::{self, Isa};
use crate::QuantFormat;

/// An f32 input vector with the per-input work of a matrix-vector product done once, to be
/// shared by every row. For affine formats that is the sum of `x` over each group, so that a
/// row costs `Σ_g scale_g · (q·x)_g + bias_g · Σx_g`; for 4-bit affine formats on x86-64 with
/// AVX2 also a copy of `x` reordered to match how the kernel splits each packed byte into its
/// low and high nibble (values `2j` and `2j + 1`), which saves the kernel the per-value shifts
/// and shuffles of the natural order.
///
/// Built by [`crate::QuantMatrix::prepare`] (or refilled by
/// [`crate::QuantMatrix::prepare_into`]) and consumed by
/// [`crate::QuantMatrix::dot_row_prepared`] on any matrix with the same format and column
/// count.
#[derive(Clone, Debug)]
pub struct PreparedInput {
    /// The format it was prepared for.
    pub(crate) format: QuantFormat,
    /// The input vector.
    pub(crate) x: Vec<f32>,
    /// `x` in nibble-split order (see [`nibble_split`]), or empty.
    pub(crate) x_split: Vec<f32>,
    /// The unit of `x_split`, in values (0 when there is none).
    pub(crate) split_unit: usize,
    /// `Σ x` over each group of an affine format (empty for other formats).
    pub(crate) group_sums: Vec<f32>,
}

impl Default for PreparedInput {
    fn default() -> Self {
        Self::new()
    }
}

/// Reorders `x` (a multiple of `unit` long) so that each run of `unit` values becomes its
/// even-indexed values then its odd-indexed ones: the order in which a kernel that widens
/// `unit / 2` packed bytes into one vector and splits each into its low nibble (value `2j`) and
/// high nibble (value `2j + 1`) meets them. `unit` is 16 for 8-lane and 32 for 16-lane kernels.
pub(crate) fn nibble_split(x: &[f32], unit: usize, out: &mut Vec<f32>) {
    out.clear();
    for unit in x.chunks_exact(unit) {
        out.extend(unit.iter().step_by(2));
        out.extend(unit.iter().skip(1).step_by(2));
    }
}

impl PreparedInput {
    /// An empty prepared input, to be filled by [`crate::QuantMatrix::prepare_into`].
    pub fn new() -> Self {
        PreparedInput {
            format: QuantFormat::F32,
            x: Vec::new(),
            x_split: Vec::new(),
            split_unit: 0,
            group_sums: Vec::new(),
        }
    }

    /// The input vector, in its original order.
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// Its length.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether it holds no values.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// The format it was prepared for.
    pub fn format(&self) -> QuantFormat {
        self.format
    }

    /// Refills `self` for `x` and a matrix in `format` (`x.len()` a whole number of blocks).
    pub(crate) fn fill(&mut self, x: &[f32], format: QuantFormat) {
        self.format = format;
        self.x.clear();
        self.x.extend_from_slice(x);
        self.group_sums.clear();
        self.x_split.clear();
        self.split_unit = 0;
        if let QuantFormat::Affine(spec) = format {
            let group = spec.group_size as usize;
            self.group_sums
                .extend(x.chunks_exact(group).map(kernels::sum_f32));
            self.split_unit = match Isa::active() {
                _ if spec.bits != 4 => 0,
                Isa::Avx512 => 32,
                Isa::Avx2 => 16,
                Isa::Scalar => 0,
            };
            if self.split_unit > 0 {
                nibble_split(x, self.split_unit, &mut self.x_split);
            }
        }
    }
}
