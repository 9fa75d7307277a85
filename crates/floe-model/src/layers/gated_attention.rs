//! Gated softmax attention (Qwen3-Next, Qwen3.5): `q_proj` emits, per head, the query and an
//! output gate; queries and keys get a per-head zero-centred RMSNorm (`x · (1 + w)`) and a
//! partial rotary embedding; the attention output is multiplied by `sigmoid(gate)` before
//! `o_proj`. Grouped-query heads over a [`KvCache`].

use floe_compute::{Activation, AttentionSpec, Backend, RopeSpec};

use crate::state::KvCache;
use crate::weights::WeightLoader;
use crate::ModelError;

/// The shape of a gated attention block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GatedAttentionShape {
    /// Residual width (input of q/k/v, output of o).
    pub hidden: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (divides `n_heads`).
    pub n_kv_heads: usize,
    /// Dimensions per head.
    pub head_dim: usize,
    /// Leading dimensions of each head that are rotated (NeoX halves within them).
    pub rotary_dim: usize,
    /// Rotary θ.
    pub rope_theta: f32,
    /// Epsilon of the q/k norms.
    pub norm_eps: f32,
}

impl GatedAttentionShape {
    /// Columns of one KV-cache row: `n_kv_heads · head_dim`.
    pub fn kv_width(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}

/// One gated attention block's weights.
pub struct GatedAttention<B: Backend> {
    shape: GatedAttentionShape,
    q_proj: B::Weight,
    k_proj: B::Weight,
    v_proj: B::Weight,
    o_proj: B::Weight,
    q_norm: B::Weight,
    k_norm: B::Weight,
}

impl<B: Backend> GatedAttention<B> {
    /// Loads `{prefix}.q_proj.weight` (`[n_heads · 2 · head_dim, hidden]`: per head the query
    /// rows, then the gate rows), `k_proj`, `v_proj`, `o_proj`, `q_norm` and `k_norm` (HF names,
    /// e.g. prefix `model.layers.3.self_attn`).
    pub fn load(
        loader: &WeightLoader<'_, B>,
        prefix: &str,
        shape: GatedAttentionShape,
    ) -> Result<Self, ModelError> {
        let width = shape.n_heads * shape.head_dim;
        let name = |part: &str| format!("{prefix}.{part}.weight");
        Ok(Self {
            shape,
            q_proj: loader.matrix(&name("q_proj"), 2 * width, shape.hidden)?,
            k_proj: loader.matrix(&name("k_proj"), shape.kv_width(), shape.hidden)?,
            v_proj: loader.matrix(&name("v_proj"), shape.kv_width(), shape.hidden)?,
            o_proj: loader.matrix(&name("o_proj"), shape.hidden, width)?,
            q_norm: loader.vector(&name("q_norm"), shape.head_dim)?,
            k_norm: loader.vector(&name("k_norm"), shape.head_dim)?,
        })
    }

    /// The block's shape.
    pub fn shape(&self) -> &GatedAttentionShape {
        &self.shape
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
        let (d, heads, kv_heads) = (s.head_dim, s.n_heads, s.n_kv_heads);
        let [t, _] = backend.shape(x);
        let positions: Vec<u32> = (past..past + t)
            .map(|p| {
                u32::try_from(p)
                    .map_err(|_| ModelError::argument("position", format!("{p} exceeds u32")))
            })
            .collect::<Result<_, _>>()?;
        let rope = RopeSpec {
            head_dim: d,
            rotary_dim: s.rotary_dim,
            theta: s.rope_theta,
            interleaved: false,
        };
        // Per head [query | gate]: one row per (token, head) splits them with two column slices.
        let q_and_gate = backend.reshape(backend.matmul(x, &self.q_proj)?, t * heads, 2 * d)?;
        let q = backend.slice_cols(&q_and_gate, 0, d)?;
        let gate = backend.reshape(backend.slice_cols(&q_and_gate, d, d)?, t, heads * d)?;
        let q = backend.rms_norm(&q, &self.q_norm, s.norm_eps, 1.0)?;
        let q = backend.rope(&backend.reshape(q, t, heads * d)?, &positions, &rope)?;
        let k = backend.reshape(backend.matmul(x, &self.k_proj)?, t * kv_heads, d)?;
        let k = backend.rms_norm(&k, &self.k_norm, s.norm_eps, 1.0)?;
        let k = backend.rope(&backend.reshape(k, t, kv_heads * d)?, &positions, &rope)?;
        let v = backend.matmul(x, &self.v_proj)?;
        backend.write_rows(&mut cache.k, past, &k)?;
        backend.write_rows(&mut cache.v, past, &v)?;
        let spec = AttentionSpec {
            n_heads: heads,
            n_kv_heads: kv_heads,
            head_dim: d,
            scale: (d as f32).powf(-0.5),
            past,
        };
        let attended = backend.attention(&q, &cache.k, &cache.v, &spec)?;
        let gated = backend.mul(&attended, &backend.activation(&gate, Activation::Sigmoid)?)?;
        Ok(backend.matmul(&gated, &self.o_proj)?)
    }
}
