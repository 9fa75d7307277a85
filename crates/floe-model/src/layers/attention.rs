//! Causal self-attention with grouped-query heads, optional per-head q/k RMSNorm and rotary
//! embedding, over a [`KvCache`]. Shared by every architecture with standard softmax attention.

use floe_compute::{AttentionSpec, Backend, RopeSpec};

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
    /// Whether q and k get a per-head RMSNorm (`q_norm`, `k_norm`) before RoPE.
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
}

/// One attention block's weights and shape.
pub struct Attention<B: Backend> {
    shape: AttentionShape,
    q_proj: B::Weight,
    k_proj: B::Weight,
    v_proj: B::Weight,
    o_proj: B::Weight,
    q_norm: Option<B::Weight>,
    k_norm: Option<B::Weight>,
}

impl<B: Backend> Attention<B> {
    /// Loads `{prefix}.q_proj.weight`, `k_proj`, `v_proj`, `o_proj` and, with `qk_norm`,
    /// `{prefix}.q_norm.weight` and `k_norm` (HF names, e.g. prefix `model.layers.0.self_attn`).
    pub fn load(
        loader: &WeightLoader<'_, B>,
        prefix: &str,
        shape: AttentionShape,
    ) -> Result<Self, ModelError> {
        let q_width = shape.n_heads * shape.head_dim;
        let kv_width = shape.kv_width();
        let name = |part: &str| format!("{prefix}.{part}.weight");
        let (q_norm, k_norm) = if shape.qk_norm {
            (
                Some(loader.vector(&name("q_norm"), shape.head_dim)?),
                Some(loader.vector(&name("k_norm"), shape.head_dim)?),
            )
        } else {
            (None, None)
        };
        Ok(Self {
            shape,
            q_proj: loader.matrix(&name("q_proj"), q_width, shape.hidden)?,
            k_proj: loader.matrix(&name("k_proj"), kv_width, shape.hidden)?,
            v_proj: loader.matrix(&name("v_proj"), kv_width, shape.hidden)?,
            o_proj: loader.matrix(&name("o_proj"), shape.hidden, q_width)?,
            q_norm,
            k_norm,
        })
    }

    /// The block's shape.
    pub fn shape(&self) -> &AttentionShape {
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
        let [t, _] = backend.shape(x);
        let positions: Vec<u32> = (past..past + t)
            .map(|p| {
                u32::try_from(p)
                    .map_err(|_| ModelError::argument("position", format!("{p} exceeds u32")))
            })
            .collect::<Result<_, _>>()?;
        let q = backend.matmul(x, &self.q_proj)?;
        let k = backend.matmul(x, &self.k_proj)?;
        let v = backend.matmul(x, &self.v_proj)?;
        let q = self.head_norm(backend, q, self.q_norm.as_ref(), t, s.n_heads)?;
        let k = self.head_norm(backend, k, self.k_norm.as_ref(), t, s.n_kv_heads)?;
        let q = backend.rope(&q, &positions, &s.rope)?;
        let k = backend.rope(&k, &positions, &s.rope)?;
        backend.write_rows(&mut cache.k, past, &k)?;
        backend.write_rows(&mut cache.v, past, &v)?;
        let spec = AttentionSpec {
            n_heads: s.n_heads,
            n_kv_heads: s.n_kv_heads,
            head_dim: s.head_dim,
            scale: (s.head_dim as f32).powf(-0.5),
            past,
        };
        let attended = backend.attention(&q, &cache.k, &cache.v, &spec)?;
        Ok(backend.matmul(&attended, &self.o_proj)?)
    }

    /// RMSNorm over each head of `x` (`[t, heads · head_dim]`), when the block has that norm.
    fn head_norm(
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
        let d = self.shape.head_dim;
        let per_head = backend.reshape(x, t * heads, d)?;
        let normed = backend.rms_norm(&per_head, weight, self.shape.norm_eps, 0.0)?;
        Ok(backend.reshape(normed, t, heads * d)?)
    }
}
