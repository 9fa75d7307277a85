//! Causal grouped-query attention in one kernel (`attention.wgsl`), one workgroup per (query
//! row, head): scores, a numerically stable softmax (maximum subtracted), and the
//! probability-weighted sum of values. Query rows are processed in chunks whose score matrix
//! fits a bounded scratch buffer. With int8 activations the kernel also writes the int8 blocks
//! of its output, for the output projection.

use floe_compute::{AttentionSpec, ComputeError, QkvPrologue};

use crate::backend::{params, u32_of, WgpuBackend};
use crate::ops::{HeadNorm, HeadWindow};
use crate::pipelines::KernelKey;
use crate::recorder::Bind;
use crate::tensor::{WgpuTensor, WgpuWeight};

/// The most scratch bytes one chunk of query rows may use for its scores.
const SCRATCH_BYTES: u64 = 64 << 20;

/// Invocations per (query row, head): one per output dimension of a 128-wide head.
const ATTENTION_THREADS: u32 = 128;

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
        let produced = self
            .int8_producer(tokens, q.cols)
            .filter(|_| spec.head_dim.is_multiple_of(32));
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
            let mut binds = vec![
                Bind::Data(&prm),
                Bind::Buffer(q.buf()),
                Bind::Buffer(k.buf()),
                Bind::Buffer(v.buf()),
                Bind::Buffer(scratch.buffer()),
                Bind::Buffer(out.buf()),
            ];
            let key = match &produced {
                Some(p) => {
                    binds.push(Bind::Buffer(p.buffer()));
                    KernelKey::new("attention_q").with("ORDER", p.order())
                }
                None => KernelKey::new("attention"),
            };
            let key = key.with("WG", ATTENTION_THREADS);
            self.run("attention", key, &binds, n * spec.n_heads)?;
            q0 += n;
        }
        if let Some(p) = produced {
            self.keep_produced(&out, p);
        }
        Ok(out)
    }

    /// `qkv_prologue` with per-head norms in two kernels that do not wait for each other:
    /// `head_norm_rope` from q's columns of `qkv` to a new q, and `head_norm_rope_v` from k's
    /// columns into the k cache's rows `past ..`, whose other workgroups copy v's columns into
    /// the v cache's.
    pub(crate) fn op_qkv_prologue(
        &self,
        qkv: &WgpuTensor,
        p: &QkvPrologue<'_, WgpuWeight>,
        (q_norm, k_norm): (&WgpuWeight, &WgpuWeight),
        k_cache: &mut WgpuTensor,
        v_cache: &mut WgpuTensor,
    ) -> Result<WgpuTensor, ComputeError> {
        let a = &p.attention;
        let (qw, kvw) = (a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim);
        let norm = |weight| HeadNorm {
            weight,
            eps: p.norm_eps,
            offset: p.norm_offset,
            positions: p.positions,
            rope: &p.rope,
        };
        let q = self.alloc("qkv_prologue", qkv.rows, qw)?;
        let to_q = HeadWindow {
            src: qkv,
            src_start: 0,
            width: qw,
            dst: q.buf(),
            dst_cols: qw,
            dst_start: 0,
        };
        self.record_head_norm_rope(&to_q, &norm(q_norm), None)?;
        let to_cache = HeadWindow {
            src: qkv,
            src_start: qw,
            width: kvw,
            dst: k_cache.buf_mut(),
            dst_cols: kvw,
            dst_start: a.past * kvw,
        };
        let v = (v_cache.buf_mut(), qw + kvw);
        self.record_head_norm_rope(&to_cache, &norm(k_norm), Some(v))?;
        Ok(q)
    }
}
