//! Causal grouped-query attention in three kernels: scores, a numerically stable softmax
//! (maximum subtracted), and the probability-weighted sum of values. Query rows are processed in
//! chunks whose score matrix fits a bounded scratch buffer.

use floe_compute::{AttentionSpec, ComputeError};

use crate::backend::{params, u32_of, WgpuBackend};
use crate::pipelines::KernelKey;
use crate::recorder::Bind;
use crate::tensor::WgpuTensor;

/// The most scratch bytes one chunk of query rows may use for its scores.
const SCRATCH_BYTES: u64 = 64 << 20;

impl WgpuBackend {
    pub(crate) fn op_attention(
        &self,
        q: &WgpuTensor,
        k: &WgpuTensor,
        v: &WgpuTensor,
        spec: &AttentionSpec,
    ) -> Result<WgpuTensor, ComputeError> {
        let tokens = q.rows;
        let len = spec.past + tokens;
        let row_bytes = (spec.n_heads * len * 4) as u64;
        let limit = SCRATCH_BYTES.min(self.gpu.caps.max_binding);
        if row_bytes > limit {
            return Err(ComputeError::Unsupported(format!(
                "attention: the scores of one query row ({} heads × {len} positions) take {row_bytes} bytes, more than {limit}",
                spec.n_heads
            )));
        }
        let chunk_rows = ((limit / row_bytes) as usize).min(tokens);
        let out = self.alloc("attention", tokens, q.cols)?;
        let scratch = self.pool.take(chunk_rows as u64 * row_bytes);
        let reduce = Self::reduce_threads(len);
        let mut q0 = 0;
        while q0 < tokens {
            let n = chunk_rows.min(tokens - q0);
            let prm = params(&[
                n as u32,
                spec.n_heads as u32,
                spec.n_kv_heads as u32,
                spec.head_dim as u32,
                u32_of("attention", "past", spec.past)?,
                u32_of("attention", "positions", len)?,
                spec.scale.to_bits(),
                q0 as u32,
            ]);
            let s = scratch.buffer();
            let scores = [
                Bind::Data(&prm),
                Bind::Buffer(q.buf()),
                Bind::Buffer(k.buf()),
                Bind::Buffer(s),
            ];
            self.run(
                "attention",
                KernelKey::new("attn_scores"),
                &scores,
                (n * spec.n_heads * len).div_ceil(256),
            )?;
            let softmax = [Bind::Data(&prm), Bind::Buffer(s)];
            self.run(
                "attention",
                KernelKey::new("attn_softmax").with("WG", reduce),
                &softmax,
                n * spec.n_heads,
            )?;
            let weighted = [
                Bind::Data(&prm),
                Bind::Buffer(s),
                Bind::Buffer(v.buf()),
                Bind::Buffer(out.buf()),
            ];
            self.run(
                "attention",
                KernelKey::new("attn_out"),
                &weighted,
                (n * spec.n_heads * spec.head_dim).div_ceil(256),
            )?;
            q0 += n;
        }
        Ok(out)
    }
}
