//! The `Backend` trait: the fixed set of operations a transformer decoder needs.
//!
//! Models are written once against this trait and never know which device runs them; a backend
//! never knows which model calls it. Activations are row-major 2-D f32 matrices `[rows, cols]`
//! (rows are tokens, or tokens × heads after a [`Backend::reshape`]); weights are immutable
//! matrices in any [`floe_quant::QuantFormat`]. Every operation is functional (inputs borrowed,
//! a new tensor returned) except those that write into an existing tensor
//! ([`Backend::write_rows`] for KV caches, [`Backend::scatter_add_rows`] for combining
//! experts, and the recurrent states of [`Backend::causal_conv1d`] and
//! [`Backend::gated_delta_rule`]). Tensors are not `Clone`, so an in-place write can never be seen through another
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

/// Which matrix of a routed expert's SwiGLU MLP a weight is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExpertPart {
    /// The gate projection.
    Gate,
    /// The up projection.
    Up,
    /// The down projection.
    Down,
}

/// Names one matrix of one routed expert of a model, for [`Backend::expert_weight`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExpertWeightKey {
    /// Decoder layer index.
    pub layer: u32,
    /// Expert index within the layer.
    pub expert: u32,
    /// Which of the expert's matrices.
    pub part: ExpertPart,
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

/// What [`Backend::qkv_prologue`] does between an attention block's stacked q/k/v projection
/// and its attention.
#[derive(Clone, Copy, Debug)]
pub struct QkvPrologue<'a, W> {
    /// The per-head RMSNorm weights of q and of k (`[1, head_dim]` each), if the block has
    /// them.
    pub norms: Option<(&'a W, &'a W)>,
    /// Epsilon of the norms.
    pub norm_eps: f32,
    /// Weight offset of the norms (0, or 1 for zero-centred weights; see
    /// [`Backend::rms_norm`]).
    pub norm_offset: f32,
    /// The position of each row.
    pub positions: &'a [u32],
    /// The rotary embedding of q and k (`rope.head_dim` is the heads').
    pub rope: RopeSpec,
    /// The head counts and `past`, the cache row the first row's k and v go to (`scale` is
    /// unused).
    pub attention: AttentionSpec,
}

/// The experts one token routed to and their combine weights, highest weight first.
#[derive(Clone, Debug, PartialEq)]
pub struct Routing {
    /// Expert ids.
    pub experts: Vec<u32>,
    /// Weight of each expert's output.
    pub weights: Vec<f32>,
}

/// The shape and constants of a gated delta rule ([`Backend::gated_delta_rule`]): the linear
/// attention of GatedDeltaNet layers (Qwen3-Next, Qwen3.5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeltaRuleSpec {
    /// Query/key heads; queries and keys have `key_heads × key_dim` columns each.
    pub key_heads: usize,
    /// Value heads, a multiple of `key_heads`: value head `h` reads query/key head
    /// `h / (value_heads / key_heads)`.
    pub value_heads: usize,
    /// Dimensions per query/key head.
    pub key_dim: usize,
    /// Dimensions per value head.
    pub value_dim: usize,
    /// Factor applied to every query (after the L2 normalization), usually `1 / sqrt(key_dim)`.
    pub scale: f32,
    /// `Some(eps)`: every query and key head is first L2-normalized, `x / sqrt(Σx² + eps)`
    /// (Qwen3-Next and Qwen3.5: `1e-6`); `None`: they are used as given.
    pub qk_l2_norm_eps: Option<f32>,
}

impl DeltaRuleSpec {
    /// Columns of the `qkv` input: `2 · key_heads · key_dim + value_heads · value_dim`.
    pub fn qkv_width(&self) -> usize {
        2 * self.key_heads * self.key_dim + self.value_heads * self.value_dim
    }

    /// `[value_heads · key_dim, value_dim]`: the shape of the recurrent state.
    pub fn state_shape(&self) -> [usize; 2] {
        [self.value_heads * self.key_dim, self.value_dim]
    }

    /// Columns of the output: `value_heads · value_dim`.
    pub fn output_width(&self) -> usize {
        self.value_heads * self.value_dim
    }
}

/// Counters of the experts a backend keeps resident in its own memory (the wgpu backend's VRAM
/// expert cache), for `--stats`; see [`Backend::expert_cache_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpertCacheStats {
    /// The budget in bytes (0: the cache is off).
    pub budget_bytes: u64,
    /// Bytes of expert weights resident now.
    pub resident_bytes: u64,
    /// Expert matrices resident now.
    pub resident_weights: usize,
    /// Requests answered from the cache (no upload).
    pub hits: u64,
    /// Requests that uploaded the bytes.
    pub misses: u64,
    /// Weights evicted to make room.
    pub evictions: u64,
}

impl ExpertCacheStats {
    /// Hits over requests (0 when there were none).
    pub fn hit_rate(&self) -> f64 {
        let requests = self.hits + self.misses;
        if requests == 0 {
            0.0
        } else {
            self.hits as f64 / requests as f64
        }
    }
}

/// A compute device for transformer inference.
pub trait Backend: Send + Sync {
    /// An f32 activation matrix owned by the backend.
    type Tensor: Send + Sync;
    /// An immutable weight matrix owned by the backend.
    type Weight: Send + Sync;
    /// Immutable weight matrices of one format and shape (the routed experts of one layer's
    /// gate, up or down projection), resident on the device and selected per token by
    /// [`Backend::matmul_selected`] without the CPU seeing the routing.
    type WeightStack: Send + Sync;

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

    /// [`Backend::weight`] for a part of a routed expert, named by `key`, so that a backend
    /// keeping experts resident in its own memory (the wgpu backend's expert cache) can return
    /// the weight it already has instead of uploading the bytes again. The caller promises that
    /// one key always comes with the same bytes for the lifetime of the backend (one model per
    /// backend). The default (the CPU backend) ignores the key.
    fn expert_weight(
        &self,
        key: ExpertWeightKey,
        data: WeightData,
    ) -> Result<Self::Weight, ComputeError> {
        let _ = key;
        self.weight(data)
    }

    /// `[rows, cols]` of a weight.
    fn weight_shape(&self, w: &Self::Weight) -> [usize; 2];

    /// Whether models should stack projections that read the same input (an expert's gate and
    /// up) into one weight, which costs a copy of their bytes at load: worth it where each
    /// operation has a fixed cost (a GPU dispatch); `false` (the default) where weights are
    /// read in place from the checkpoint's memory map (the CPU backend).
    fn prefers_stacked_projections(&self) -> bool {
        false
    }

    /// Counters of the experts this backend keeps resident in its own memory
    /// ([`Backend::expert_weight`]'s cache), or `None` when it has no such cache (the default).
    fn expert_cache_stats(&self) -> Option<ExpertCacheStats> {
        None
    }

    /// Takes ownership of `parts` (at least one, all of one format and shape) as a stack whose
    /// entry `i` is `parts[i]`: a layer's experts kept resident for
    /// [`Backend::matmul_selected`]. Checked by [`crate::check::weight_stack`].
    fn weight_stack(&self, parts: Vec<WeightData>) -> Result<Self::WeightStack, ComputeError>;

    /// `[entries, rows, cols]` of a stack.
    fn weight_stack_shape(&self, s: &Self::WeightStack) -> [usize; 3];

    /// The router of [`Backend::softmax_topk`] with its result left on the device: a `[T, 2k]`
    /// routing tensor whose row `t` holds token `t`'s `k` expert ids (small integers stored
    /// exactly as f32), highest weight first (ties to the lower id), then their `k` weights.
    /// Nothing is read back; [`Backend::matmul_selected`] and [`Backend::combine_selected`]
    /// consume it.
    fn route_topk(
        &self,
        logits: &Self::Tensor,
        k: usize,
        renormalize: bool,
    ) -> Result<Self::Tensor, ComputeError>;

    /// The expert-indexed product (llama.cpp's `MUL_MAT_ID`). With `routes` a `[T, 2k]` routing
    /// tensor ([`Backend::route_topk`]) and stack entries `[N, K]`, `x` is either `[T, K]` (token
    /// `t`'s row serves all `k` of its selections) or `[T·k, K]` (row `t·k + j` serves selection
    /// `j` of token `t`). The result is `[T·k, N]`: row `t·k + j` is `x_row · Wᵀ` with `W` the
    /// stack entry `id(t, j)`. An id that is not an entry of the stack is refused where the
    /// backend can see it (the CPU backend: [`ComputeError::Argument`]); a GPU backend, which
    /// cannot report it without a sync, fills that output row with NaN.
    fn matmul_selected(
        &self,
        x: &Self::Tensor,
        stack: &Self::WeightStack,
        routes: &Self::Tensor,
    ) -> Result<Self::Tensor, ComputeError>;

    /// The weighted combine of selected rows: `y` is `[T·k, C]`, `routes` `[T, 2k]`; the result
    /// is `[T, C]` with row `t` = `Σ_j weight(t, j) · y[t·k + j]`, summed in `j` order.
    fn combine_selected(
        &self,
        y: &Self::Tensor,
        routes: &Self::Tensor,
    ) -> Result<Self::Tensor, ComputeError>;

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

    /// The residual add and the RMSNorm after it: `(x + delta, rms_norm(x + delta, w, eps,
    /// weight_offset))`. Backends with a per-operation cost (a GPU dispatch) override this with
    /// one kernel; the results equal those of [`Backend::add`] then [`Backend::rms_norm`].
    fn add_rms_norm(
        &self,
        x: &Self::Tensor,
        delta: &Self::Tensor,
        w: &Self::Weight,
        eps: f32,
        weight_offset: f32,
    ) -> Result<(Self::Tensor, Self::Tensor), ComputeError> {
        crate::check::add_rms_norm(
            self.shape(x),
            self.shape(delta),
            self.weight_shape(w),
            eps,
            weight_offset,
        )?;
        let sum = self.add(x, delta)?;
        let normed = self.rms_norm(&sum, w, eps, weight_offset)?;
        Ok((sum, normed))
    }

    /// Rotary embedding of `x` (`[T, heads · head_dim]`), row `t` at position `positions[t]`.
    fn rope(
        &self,
        x: &Self::Tensor,
        positions: &[u32],
        spec: &RopeSpec,
    ) -> Result<Self::Tensor, ComputeError>;

    /// RoPE of `x` (`[T, heads · head_dim]`) after an RMSNorm of each head with the
    /// `[1, head_dim]` weight `w`: Qwen3's per-head q/k norms and the rotary embedding after
    /// them. Equals [`Backend::rms_norm`] of `x` as `[T · heads, head_dim]`, then
    /// [`Backend::rope`]; backends with a per-operation cost do both in one kernel.
    fn head_norm_rope(
        &self,
        x: Self::Tensor,
        w: &Self::Weight,
        eps: f32,
        weight_offset: f32,
        positions: &[u32],
        spec: &RopeSpec,
    ) -> Result<Self::Tensor, ComputeError> {
        head_norm_rope_in_parts(self, x, w, eps, weight_offset, positions, spec)
    }

    /// The start of an attention block after its stacked projection `qkv`
    /// (`[T, (n_heads + 2 · n_kv_heads) · head_dim]`: q's columns, then k's, then v's): q and k
    /// each get their per-head norm (when `p.norms` has them) and RoPE, k and v are written into
    /// rows `past ..` of `k_cache` and `v_cache`, and q (`[T, n_heads · head_dim]`) is returned.
    /// **Has a default** (three `slice_cols`, `head_norm_rope` or `rope` of q and k, two
    /// `write_rows`); backends with a per-operation cost do it in fewer kernels.
    fn qkv_prologue(
        &self,
        qkv: &Self::Tensor,
        p: &QkvPrologue<'_, Self::Weight>,
        k_cache: &mut Self::Tensor,
        v_cache: &mut Self::Tensor,
    ) -> Result<Self::Tensor, ComputeError> {
        qkv_prologue_in_parts(self, qkv, p, k_cache, v_cache)
    }

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

    /// `silu(gate) · up` of each row of `x` = `[gate | up]` (`[rows, 2c]` → `[rows, c]`): the
    /// SwiGLU of a fused gate/up projection. **Has a default** (two `slice_cols`, then
    /// [`Backend::swiglu`]); backends with a per-operation cost read the halves in place.
    fn swiglu_packed(&self, x: &Self::Tensor) -> Result<Self::Tensor, ComputeError> {
        let [_, half] = crate::check::swiglu_packed(self.shape(x))?;
        let gate = self.slice_cols(x, 0, half)?;
        let up = self.slice_cols(x, half, half)?;
        self.swiglu(&gate, &up)
    }

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

    /// [`Backend::softmax_topk`] of several logits tensors, `(logits, k, renormalize)` each,
    /// read back together: one wait for the device where a read-back waits for it (a GPU), so
    /// a layer's routing and the next layer's prefetch guess cost one synchronization. **Has a
    /// default** (one `softmax_topk` each).
    fn softmax_topk_many(
        &self,
        requests: &[(&Self::Tensor, usize, bool)],
    ) -> Result<Vec<Vec<Routing>>, ComputeError> {
        requests
            .iter()
            .map(|&(logits, k, renormalize)| self.softmax_topk(logits, k, renormalize))
            .collect()
    }

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

    /// Causal depthwise 1-D convolution over time with a rolling state, so that a sequence can be
    /// fed in pieces (prefill, then one token per call). `x` is `[T, C]` (row `t` is time step
    /// `t`), `weight` is `[C, K]` (channel `c`'s kernel, oldest tap first: HF's `conv1d.weight`
    /// `[C, 1, K]` seen as `[C, K]`), `state` is `[K − 1, C]`: the `K − 1` inputs that preceded
    /// `x`, oldest first (zeros at the start of a sequence), `K ≥ 2`. With `e` the rows of `state`
    /// followed by the rows of `x`, the result is `[T, C]`:
    /// `y[t, c] = f(Σ_{j < K} weight[c, j] · e[t + j, c])`, `f` the activation (identity for
    /// `None`). Afterwards `state` holds the last `K − 1` rows of `e`, so one call over `x₁` and
    /// one over `x₂` give the same outputs and final state as one call over both.
    fn causal_conv1d(
        &self,
        x: &Self::Tensor,
        weight: &Self::Weight,
        state: &mut Self::Tensor,
        activation: Option<Activation>,
    ) -> Result<Self::Tensor, ComputeError>;

    /// The gated delta rule over `T` tokens, continuing from `state` and updating it in place.
    ///
    /// With `nk`, `nv`, `dk`, `dv` the heads and dimensions of `spec`: `qkv` is
    /// `[T, 2·nk·dk + nv·dv]`, each row the queries (`nk` heads of `dk`), then the keys (same),
    /// then the values (`nv` heads of `dv`); `gates` is `[T, 2·nv]`, each row `b` (`nv` values)
    /// then `a` (`nv` values); `a_log` and `dt_bias` are `[1, nv]`; `state` is `[nv·dk, dv]`,
    /// row `h·dk + i`, column `j` holding `S_h[i, j]` (zeros at the start of a sequence). For
    /// each token in order and each value head `h`, with `q`, `k` the token's query and key of
    /// head `h / (nv / nk)` (L2-normalized first when `spec.qk_l2_norm_eps` is set, `q` then
    /// multiplied by `spec.scale`) and `v` its value of head `h`:
    ///
    /// ```text
    /// β = sigmoid(b[h]),  γ = exp(−exp(a_log[h]) · softplus(a[h] + dt_bias[h]))
    /// S_h ← γ · S_h;   u = β · (v − S_hᵀ k);   S_h ← S_h + k uᵀ;   out[h] = S_hᵀ q
    /// ```
    ///
    /// (`softplus(x) = ln(1 + eˣ)`), as transformers' `torch_recurrent_gated_delta_rule`. The
    /// result is `[T, nv·dv]`, row `t` the outputs of every value head. Calls over consecutive
    /// pieces of a sequence equal one call over all of it.
    fn gated_delta_rule(
        &self,
        qkv: &Self::Tensor,
        gates: &Self::Tensor,
        a_log: &Self::Tensor,
        dt_bias: &Self::Tensor,
        state: &mut Self::Tensor,
        spec: &DeltaRuleSpec,
    ) -> Result<Self::Tensor, ComputeError>;
}

/// [`Backend::head_norm_rope`] from the backend's other operations (its default, also for
/// backends that fuse only some head widths): checks the operands, then `rms_norm` of `x` as
/// `[T · heads, head_dim]` and `rope`.
pub fn head_norm_rope_in_parts<B: Backend + ?Sized>(
    b: &B,
    x: B::Tensor,
    w: &B::Weight,
    eps: f32,
    weight_offset: f32,
    positions: &[u32],
    spec: &RopeSpec,
) -> Result<B::Tensor, ComputeError> {
    let [t, cols] = crate::check::head_norm_rope(
        b.shape(&x),
        b.weight_shape(w),
        eps,
        weight_offset,
        positions.len(),
        spec,
    )?;
    let per_head = b.reshape(x, t * cols / spec.head_dim, spec.head_dim)?;
    let normed = b.rms_norm(&per_head, w, eps, weight_offset)?;
    let normed = b.reshape(normed, t, cols)?;
    b.rope(&normed, positions, spec)
}

/// [`Backend::qkv_prologue`] from the backend's other operations (its default, also for
/// backends that fuse only some cases): checks the operands, then three `slice_cols`,
/// `head_norm_rope` (or `rope`) of q and k, and two `write_rows`.
pub fn qkv_prologue_in_parts<B: Backend + ?Sized>(
    b: &B,
    qkv: &B::Tensor,
    p: &QkvPrologue<'_, B::Weight>,
    k_cache: &mut B::Tensor,
    v_cache: &mut B::Tensor,
) -> Result<B::Tensor, ComputeError> {
    let norm_shapes = p.norms.map(|(q, k)| [b.weight_shape(q), b.weight_shape(k)]);
    crate::check::qkv_prologue(
        b.shape(qkv),
        norm_shapes,
        p,
        b.shape(k_cache),
        b.shape(v_cache),
    )?;
    let a = &p.attention;
    let (qw, kvw) = (a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim);
    let q = b.slice_cols(qkv, 0, qw)?;
    let k = b.slice_cols(qkv, qw, kvw)?;
    let v = b.slice_cols(qkv, qw + kvw, kvw)?;
    let (q, k) = match p.norms {
        Some((qn, kn)) => (
            b.head_norm_rope(q, qn, p.norm_eps, p.norm_offset, p.positions, &p.rope)?,
            b.head_norm_rope(k, kn, p.norm_eps, p.norm_offset, p.positions, &p.rope)?,
        ),
        None => (
            b.rope(&q, p.positions, &p.rope)?,
            b.rope(&k, p.positions, &p.rope)?,
        ),
    };
    b.write_rows(k_cache, a.past, &k)?;
    b.write_rows(v_cache, a.past, &v)?;
    Ok(q)
}
