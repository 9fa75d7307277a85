//! Causal self-attention with grouped-query heads, optional q/k RMSNorm (per head or over the
//! whole projection), optional q/k/v clamping and an optional sliding window, with rotary
//! embedding, over a [`KvCache`]. Shared by every architecture with standard softmax attention.

use floe_compute::{AttentionSpec, Backend, QkvPrologue, RopeSpec};

use crate::state::KvCache;
use crate::weights::WeightLoader;
use crate::ModelError;

/// The shape of an attention block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionShape {
    /// Residual width (input of q/k/v, output of o).
    pub hidden: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
    /// Dimensions per head.
    pub head_dim: usize,
    /// Whether q and k get an RMSNorm (`q_norm`, `k_norm`) before RoPE; where it applies is
    /// [`AttentionOptions::qk_norm_scope`].
    pub qk_norm: bool,
    /// Epsilon of the q/k norms.
    pub norm_eps: f32,
    /// Rotary embedding.
    pub rope: RopeSpec,
}

impl AttentionShape {
    /// Columns of one KV-cache row: `n_kv_heads · head_dim`.
    pub fn kv_width(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Columns of the query projection: `n_heads · head_dim`.
    pub fn q_width(&self) -> usize {
        self.n_heads * self.head_dim
    }
}

/// What the q/k RMSNorm weights normalize.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QkNormScope {
    /// Each head separately, with one `[head_dim]` weight shared by all heads (Qwen3).
    #[default]
    PerHead,
    /// The whole projection at once, before it is split into heads: `q_norm` is
    /// `[n_heads · head_dim]`, `k_norm` `[n_kv_heads · head_dim]` (OLMoE).
    WholeProjection,
}

/// Variants of the attention block some architectures need; the default is plain attention.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AttentionOptions {
    /// Where the q/k norms apply (when [`AttentionShape::qk_norm`] is set).
    pub qk_norm_scope: QkNormScope,
    /// Clamps q, k and v to `[-clip, clip]` after the projections and q/k norms, before RoPE
    /// (OLMoE's `clip_qkv`). The backend has no clamp operation, so this reads the three
    /// projections back, clamps them on the CPU and uploads them again: exact, but one device
    /// round trip each on a GPU backend.
    pub clip_qkv: Option<f32>,
    /// Each position attends to at most this many positions, itself included: position `p`
    /// sees `p + 1 − window ..= p` (Mixtral's `sliding_window`, as transformers' sliding-window
    /// mask). The cache keeps every position; rows past the window are attended one at a time
    /// over a gathered copy of their window.
    pub sliding_window: Option<usize>,
}

/// One attention block's weights and shape.
pub struct Attention<B: Backend> {
    shape: AttentionShape,
    options: AttentionOptions,
    qkv: QkvProjections<B>,
    o_proj: B::Weight,
    q_norm: Option<B::Weight>,
    k_norm: Option<B::Weight>,
}

impl<B: Backend> Attention<B> {
    /// Loads `{prefix}.q_proj.weight`, `k_proj`, `v_proj`, `o_proj` and, with `qk_norm`,
    /// `{prefix}.q_norm.weight` and `k_norm` (HF names, e.g. prefix `model.layers.0.self_attn`),
    /// as plain attention with per-head q/k norms.
    pub fn load(
        loader: &WeightLoader<'_, B>,
        prefix: &str,
        shape: AttentionShape,
    ) -> Result<Self, ModelError> {
        Self::load_with(loader, prefix, shape, AttentionOptions::default())
    }

    /// [`Attention::load`] with the variants in `options`.
    pub fn load_with(
        loader: &WeightLoader<'_, B>,
        prefix: &str,
        shape: AttentionShape,
        options: AttentionOptions,
    ) -> Result<Self, ModelError> {
        if let Some(clip) = options.clip_qkv {
            if !(clip.is_finite() && clip > 0.0) {
                return Err(ModelError::argument(
                    "clip_qkv",
                    format!("{prefix}: must be a positive finite number, found {clip}"),
                ));
            }
        }
        if options.sliding_window == Some(0) {
            return Err(ModelError::argument(
                "sliding_window",
                format!("{prefix}: a window of 0 positions attends to nothing"),
            ));
        }
        let q_width = shape.q_width();
        let kv_width = shape.kv_width();
        let name = |part: &str| format!("{prefix}.{part}.weight");
        let (q_norm, k_norm) = if shape.qk_norm {
            let (q_len, k_len) = match options.qk_norm_scope {
                QkNormScope::PerHead => (shape.head_dim, shape.head_dim),
                QkNormScope::WholeProjection => (q_width, kv_width),
            };
            (
                Some(loader.vector(&name("q_norm"), q_len)?),
                Some(loader.vector(&name("k_norm"), k_len)?),
            )
        } else {
            (None, None)
        };
        let (q, k, v) = (name("q_proj"), name("k_proj"), name("v_proj"));
        let stacked = loader.stacked_matrices(
            &[(&q, q_width), (&k, kv_width), (&v, kv_width)],
            shape.hidden,
        )?;
        let qkv = match stacked {
            Some(w) => QkvProjections::Stacked(w),
            None => QkvProjections::Separate {
                q: loader.matrix(&q, q_width, shape.hidden)?,
                k: loader.matrix(&k, kv_width, shape.hidden)?,
                v: loader.matrix(&v, kv_width, shape.hidden)?,
            },
        };
        Ok(Self {
            shape,
            options,
            qkv,
            o_proj: loader.matrix(&name("o_proj"), shape.hidden, q_width)?,
            q_norm,
            k_norm,
        })
    }

    /// The block's shape.
    pub fn shape(&self) -> &AttentionShape {
        &self.shape
    }

    /// The block's variants.
    pub fn options(&self) -> &AttentionOptions {
        &self.options
    }

    /// Attention of the already-normalized rows `x` (`[T, hidden]`, at positions `past ..
    /// past + T`): writes their keys and values into rows `past ..` of `cache` and returns the
    /// output projection `[T, hidden]` (the residual add is the caller's).
    pub fn forward(
        &self,
        backend: &B,
        x: &B::Tensor,
        past: usize,
        cache: &mut KvCache<B>,
    ) -> Result<B::Tensor, ModelError> {
        let s = &self.shape;
        let [t, _] = backend.shape(x);
        let positions: Vec<u32> = (past..past + t)
            .map(|p| {
                u32::try_from(p)
                    .map_err(|_| ModelError::argument("position", format!("{p} exceeds u32")))
            })
            .collect::<Result<_, _>>()?;
        let spec = AttentionSpec {
            n_heads: s.n_heads,
            n_kv_heads: s.n_kv_heads,
            head_dim: s.head_dim,
            scale: (s.head_dim as f32).powf(-0.5),
            past,
        };
        let q = self.prologue(backend, x, &positions, &spec, cache)?;
        let attended = match self.options.sliding_window {
            Some(window) if past + t > window => {
                windowed_attention(backend, &q, cache, &spec, t, window)?
            }
            _ => backend.attention(&q, &cache.k, &cache.v, &spec)?,
        };
        Ok(backend.matmul(&attended, &self.o_proj)?)
    }

    /// q (normed and rotated) for the rows `x`, with their k and v written into the cache:
    /// one `qkv_prologue` after the stacked projection where the block has per-head norms or
    /// none and no clamping, else the projections, norms, clamps and RoPE one by one.
    fn prologue(
        &self,
        backend: &B,
        x: &B::Tensor,
        positions: &[u32],
        spec: &AttentionSpec,
        cache: &mut KvCache<B>,
    ) -> Result<B::Tensor, ModelError> {
        let s = &self.shape;
        let per_head = self.options.qk_norm_scope == QkNormScope::PerHead;
        let norms = self.q_norm.as_ref().zip(self.k_norm.as_ref());
        let fusable = self.options.clip_qkv.is_none() && (!s.qk_norm || per_head);
        if let (QkvProjections::Stacked(w), true) = (&self.qkv, fusable) {
            let qkv = backend.matmul(x, w)?;
            let p = QkvPrologue {
                norms,
                norm_eps: s.norm_eps,
                norm_offset: 0.0,
                positions,
                rope: s.rope,
                attention: *spec,
            };
            return Ok(backend.qkv_prologue(&qkv, &p, &mut cache.k, &mut cache.v)?);
        }
        let t = positions.len();
        let [q, k, v] = self.project(backend, x)?;
        let (q, k, v) = match (norms, self.options.clip_qkv) {
            // Per-head norms right before RoPE: one operation each.
            (Some((q_norm, k_norm)), None) if per_head => {
                let eps = s.norm_eps;
                (
                    backend.head_norm_rope(q, q_norm, eps, 0.0, positions, &s.rope)?,
                    backend.head_norm_rope(k, k_norm, eps, 0.0, positions, &s.rope)?,
                    v,
                )
            }
            _ => {
                let q = self.qk_norm(backend, q, self.q_norm.as_ref(), t, s.n_heads)?;
                let k = self.qk_norm(backend, k, self.k_norm.as_ref(), t, s.n_kv_heads)?;
                let (q, k, v) = match self.options.clip_qkv {
                    Some(clip) => (
                        clamp(backend, &q, clip)?,
                        clamp(backend, &k, clip)?,
                        clamp(backend, &v, clip)?,
                    ),
                    None => (q, k, v),
                };
                (
                    backend.rope(&q, positions, &s.rope)?,
                    backend.rope(&k, positions, &s.rope)?,
                    v,
                )
            }
        };
        backend.write_rows(&mut cache.k, spec.past, &k)?;
        backend.write_rows(&mut cache.v, spec.past, &v)?;
        Ok(q)
    }

    /// The q, k and v projections of `x`: three products, or one over the stacked weight and
    /// its three column ranges.
    fn project(&self, backend: &B, x: &B::Tensor) -> Result<[B::Tensor; 3], ModelError> {
        match &self.qkv {
            QkvProjections::Separate { q, k, v } => Ok([
                backend.matmul(x, q)?,
                backend.matmul(x, k)?,
                backend.matmul(x, v)?,
            ]),
            QkvProjections::Stacked(w) => {
                let qkv = backend.matmul(x, w)?;
                let (qw, kvw) = (self.shape.q_width(), self.shape.kv_width());
                Ok([
                    backend.slice_cols(&qkv, 0, qw)?,
                    backend.slice_cols(&qkv, qw, kvw)?,
                    backend.slice_cols(&qkv, qw + kvw, kvw)?,
                ])
            }
        }
    }

    /// The q or k RMSNorm of `x` (`[t, heads · head_dim]`), when the block has that norm.
    fn qk_norm(
        &self,
        backend: &B,
        x: B::Tensor,
        weight: Option<&B::Weight>,
        t: usize,
        heads: usize,
    ) -> Result<B::Tensor, ModelError> {
        let Some(weight) = weight else {
            return Ok(x);
        };
        let eps = self.shape.norm_eps;
        match self.options.qk_norm_scope {
            QkNormScope::WholeProjection => Ok(backend.rms_norm(&x, weight, eps, 0.0)?),
            QkNormScope::PerHead => {
                let d = self.shape.head_dim;
                let per_head = backend.reshape(x, t * heads, d)?;
                let normed = backend.rms_norm(&per_head, weight, eps, 0.0)?;
                Ok(backend.reshape(normed, t, heads * d)?)
            }
        }
    }
}

/// The q, k and v projection weights.
enum QkvProjections<B: Backend> {
    /// Each its own weight.
    Separate {
        q: B::Weight,
        k: B::Weight,
        v: B::Weight,
    },
    /// One `[q_width + 2 · kv_width, hidden]` weight, q's rows then k's then v's, on backends
    /// that prefer stacked projections (one product instead of three, then three column
    /// copies that do not wait for each other).
    Stacked(B::Weight),
}

/// `x` with every value clamped to `[-clip, clip]` (NaN stays NaN, as in torch's `clamp`).
fn clamp<B: Backend>(backend: &B, x: &B::Tensor, clip: f32) -> Result<B::Tensor, ModelError> {
    let [rows, cols] = backend.shape(x);
    let values: Vec<f32> = backend
        .download(x)?
        .into_iter()
        .map(|v| v.clamp(-clip, clip))
        .collect();
    Ok(backend.upload(&values, rows, cols)?)
}

/// Causal attention of the `t` query rows `q` (at positions `spec.past ..`) where each position
/// `p` sees only the cache rows `p + 1 − window ..= p`. Rows whose whole causal prefix fits in
/// the window are attended in one call; each later row over a gathered copy of its window.
fn windowed_attention<B: Backend>(
    backend: &B,
    q: &B::Tensor,
    cache: &KvCache<B>,
    spec: &AttentionSpec,
    t: usize,
    window: usize,
) -> Result<B::Tensor, ModelError> {
    let past = spec.past;
    let [_, q_width] = backend.shape(q);
    let mut out = backend.zeros(t, q_width)?;
    let row_ids = |range: std::ops::Range<usize>| -> Result<Vec<u32>, ModelError> {
        range
            .map(|r| {
                u32::try_from(r)
                    .map_err(|_| ModelError::argument("position", format!("{r} exceeds u32")))
            })
            .collect()
    };
    // Rows at positions below `window` see every earlier position anyway.
    let unwindowed = window.saturating_sub(past).min(t);
    if unwindowed > 0 {
        let rows = row_ids(0..unwindowed)?;
        let head = backend.gather_rows(q, &rows)?;
        let attended = backend.attention(&head, &cache.k, &cache.v, spec)?;
        backend.scatter_add_rows(&mut out, &attended, &rows, &vec![1.0; rows.len()])?;
    }
    let row_spec = AttentionSpec {
        past: window - 1,
        ..*spec
    };
    for i in unwindowed..t {
        let position = past + i;
        let keys = row_ids(position + 1 - window..position + 1)?;
        let k = backend.gather_rows(&cache.k, &keys)?;
        let v = backend.gather_rows(&cache.v, &keys)?;
        let row = row_ids(i..i + 1)?;
        let qi = backend.gather_rows(q, &row)?;
        let attended = backend.attention(&qi, &k, &v, &row_spec)?;
        backend.scatter_add_rows(&mut out, &attended, &row, &[1.0])?;
    }
    Ok(out)
}
