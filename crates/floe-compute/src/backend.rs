//! The `Backend` trait: the fixed set of operations a transformer decoder needs.
//!
//! Models are written once against this trait and never know which device runs them; a backend
//! never knows which model calls it. Activations are row-major 2-D f32 matrices `[rows, cols]`
//! (rows are tokens, or tokens × heads after a [`Backend::reshape`]); weights are immutable
//! matrices in any [`floe_quant::QuantFormat`]. Every operation is functional (inputs borrowed,
//! a new tensor returned) except the two that write into an existing tensor
//! ([`Backend::write_rows`] for KV caches and [`Backend::scatter_add_rows`] for combining
//! experts). Tensors are not `Clone`, so an in-place write can never be seen through another
//! handle. A backend may run operations lazily: only [`Backend::download`] and
//! [`Backend::softmax_topk`] (whose results the CPU needs) must wait for them.
//!
//! Every tensor has at least one row and one column. Operands that do not fit an operation are
//! refused with [`ComputeError::Shape`] (a bad scalar such as a non-positive RoPE θ with
//! [`ComputeError::Argument`]), never a panic; [`crate::check`] holds these checks so that every
//! backend refuses the same inputs. `docs/backends.md` describes each operation precisely, and
//! the conformance suite (`floe_compute::conformance`, feature `conformance`) tests a backend
//! against an f64 reference.

use bytes::Bytes;
use floe_quant::QuantFormat;

use crate::ComputeError;

/// The bytes and shape of a weight matrix (a vector is one row), as they come from a checkpoint.
/// `bytes` is usually a zero-copy slice of a memory map or of a streamed expert blob.
#[derive(Clone, Debug)]
pub struct WeightData {
    /// Storage format.
    pub format: QuantFormat,
    /// Output features (rows).
    pub rows: usize,
    /// Input features (values per row).
    pub cols: usize,
    /// `format.matrix_bytes(rows, cols)` bytes.
    pub bytes: Bytes,
}

/// Element-wise activation functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x · sigmoid(x)`.
    Silu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
}

/// Rotary position embedding parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RopeSpec {
    /// Dimensions per head; the input's columns are `heads × head_dim`.
    pub head_dim: usize,
    /// Leading dimensions of each head that are rotated (`head_dim` for full rotary, less for
    /// partial rotary); even.
    pub rotary_dim: usize,
    /// Base θ of the inverse frequencies `θ^(-2i / rotary_dim)`.
    pub theta: f32,
    /// `false`: rotate pairs `(i, i + rotary_dim/2)` (GPT-NeoX / HF `rotate_half`, used by Qwen,
    /// Mixtral, OLMoE); `true`: rotate adjacent pairs `(2i, 2i + 1)` (GPT-J).
    pub interleaved: bool,
}

/// Causal multi-head attention over a KV cache, with grouped-query heads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionSpec {
    /// Query heads; `q` has `n_heads × head_dim` columns.
    pub n_heads: usize,
    /// Key/value heads (divides `n_heads`); query head `h` reads kv head `h / (n_heads / n_kv_heads)`.
    pub n_kv_heads: usize,
    /// Dimensions per head.
    pub head_dim: usize,
    /// Score scale, usually `1 / sqrt(head_dim)`.
    pub scale: f32,
    /// Cached positions before the first query row: query row `t` is at position `past + t` and
    /// attends to cache rows `0 ..= past + t`.
    pub past: usize,
}

/// The experts one token routed to and their combine weights, highest weight first.
#[derive(Clone, Debug, PartialEq)]
pub struct Routing {
    /// Expert ids.
    pub experts: Vec<u32>,
    /// Weight of each expert's output.
    pub weights: Vec<f32>,
}

/// A compute device for transformer inference.
pub trait Backend: Send + Sync {
    /// An f32 activation matrix owned by the backend.
    type Tensor: Send + Sync;
    /// An immutable weight matrix owned by the backend.
    type Weight: Send + Sync;

    /// A short name for messages and statistics (e.g. `cpu (avx2, 2 threads)`).
    fn name(&self) -> String;

    /// A `[rows, cols]` tensor holding `data` (row-major, `rows · cols` values).
    fn upload(&self, data: &[f32], rows: usize, cols: usize) -> Result<Self::Tensor, ComputeError>;

    /// A `[rows, cols]` tensor of zeros.
    fn zeros(&self, rows: usize, cols: usize) -> Result<Self::Tensor, ComputeError>;

    /// The tensor's values, row-major (waits for pending work).
    fn download(&self, t: &Self::Tensor) -> Result<Vec<f32>, ComputeError>;

    /// `[rows, cols]` of a tensor.
    fn shape(&self, t: &Self::Tensor) -> [usize; 2];

    /// The same values seen as `[rows, cols]` (same element count), e.g. `[T, H·D]` as `[T·H, D]`.
    fn reshape(
        &self,
        t: Self::Tensor,
        rows: usize,
        cols: usize,
    ) -> Result<Self::Tensor, ComputeError>;

    /// Columns `start .. start + len` of every row, as a new tensor.
    fn slice_cols(
        &self,
        x: &Self::Tensor,
        start: usize,
        len: usize,
    ) -> Result<Self::Tensor, ComputeError>;

    /// Takes ownership of a weight matrix (the CPU backend keeps the bytes zero-copy; a GPU
    /// backend uploads them).
    fn weight(&self, data: WeightData) -> Result<Self::Weight, ComputeError>;

    /// `[rows, cols]` of a weight.
    fn weight_shape(&self, w: &Self::Weight) -> [usize; 2];

    /// Rows `ids` of `table` (`[vocab, hidden]`), dequantized: `[ids.len(), hidden]`.
    fn embed(&self, table: &Self::Weight, ids: &[u32]) -> Result<Self::Tensor, ComputeError>;

    /// `x · wᵀ`: `x` is `[T, K]`, `w` is `[N, K]`, the result `[T, N]`. `T = 1` is the
    /// matrix-vector product of decode.
    fn matmul(&self, x: &Self::Tensor, w: &Self::Weight) -> Result<Self::Tensor, ComputeError>;

    /// RMSNorm of each row: `x / sqrt(mean(x²) + eps) · (weight_offset + w)`, `w` a `[1, cols]`
    /// weight. `weight_offset` is 0 for the usual form and 1 for the zero-centred form.
    fn rms_norm(
        &self,
        x: &Self::Tensor,
        w: &Self::Weight,
        eps: f32,
        weight_offset: f32,
    ) -> Result<Self::Tensor, ComputeError>;

    /// Rotary embedding of `x` (`[T, heads · head_dim]`), row `t` at position `positions[t]`.
    fn rope(
        &self,
        x: &Self::Tensor,
        positions: &[u32],
        spec: &RopeSpec,
    ) -> Result<Self::Tensor, ComputeError>;

    /// Copies `src` (`[n, cols]`) into rows `at_row .. at_row + n` of `dst` (same `cols`).
    fn write_rows(
        &self,
        dst: &mut Self::Tensor,
        at_row: usize,
        src: &Self::Tensor,
    ) -> Result<(), ComputeError>;

    /// Causal attention of `q` (`[T, n_heads · head_dim]`) over the first `spec.past + T` rows of
    /// the caches `k` and `v` (`[capacity, n_kv_heads · head_dim]`): `[T, n_heads · head_dim]`.
    fn attention(
        &self,
        q: &Self::Tensor,
        k: &Self::Tensor,
        v: &Self::Tensor,
        spec: &AttentionSpec,
    ) -> Result<Self::Tensor, ComputeError>;

    /// `silu(gate) · up`, element-wise.
    fn swiglu(&self, gate: &Self::Tensor, up: &Self::Tensor) -> Result<Self::Tensor, ComputeError>;

    /// An element-wise activation.
    fn activation(&self, x: &Self::Tensor, f: Activation) -> Result<Self::Tensor, ComputeError>;

    /// `a + b`, element-wise (same shape).
    fn add(&self, a: &Self::Tensor, b: &Self::Tensor) -> Result<Self::Tensor, ComputeError>;

    /// `a · b`, element-wise; `b` is either `a`'s shape or `[rows, 1]` (one factor per row).
    fn mul(&self, a: &Self::Tensor, b: &Self::Tensor) -> Result<Self::Tensor, ComputeError>;

    /// Router: softmax of each row of `logits` (`[T, experts]`), the `k` largest probabilities,
    /// divided by their sum when `renormalize`. Reads the result back to the CPU.
    fn softmax_topk(
        &self,
        logits: &Self::Tensor,
        k: usize,
        renormalize: bool,
    ) -> Result<Vec<Routing>, ComputeError>;

    /// Rows `rows` of `x`, in that order: `[rows.len(), cols]`.
    fn gather_rows(&self, x: &Self::Tensor, rows: &[u32]) -> Result<Self::Tensor, ComputeError>;

    /// `acc[rows[i]] += weights[i] · src[i]` for each row `i` of `src` (weighted expert combine).
    fn scatter_add_rows(
        &self,
        acc: &mut Self::Tensor,
        src: &Self::Tensor,
        rows: &[u32],
        weights: &[f32],
    ) -> Result<(), ComputeError>;
}
