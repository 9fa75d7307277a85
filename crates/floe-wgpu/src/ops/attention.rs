//! Causal grouped-query attention (`attention.wgsl`): a workgroup per (query row, head) computes
//! scores, a numerically stable softmax (online, over chunks of positions held in workgroup
//! memory) and the probability-weighted sum of values. When query rows × heads are too few to
//! fill the GPU (decode) and the context is long, each (row, head) is split over ranges of
//! positions and a second kernel merges the splits (`attention_merge.wgsl`, flash-decoding).
//! With int8 activations the kernel that writes the output also writes its int8 blocks, for
//! the output projection.

use floe_compute::{AttentionSpec, ComputeError, QkvPrologue};

use crate::backend::{params, u32_of, WgpuBackend};
use crate::ops::int8::ProducedInt8;
use crate::ops::{HeadNorm, HeadWindow};
use crate::pipelines::KernelKey;
use crate::recorder::Bind;
use crate::shaders::MAX_Q_HEAD_DIM;
use crate::tensor::{WgpuTensor, WgpuWeight};

/// Invocations per (query row, head, split).
const ATTENTION_THREADS: u32 = 128;

/// Positions per split when attention is split.
const SPLIT_POSITIONS: usize = 128;

/// Attention is split only when query rows × heads are fewer than this many workgroups.
const SPLIT_BELOW_WORKGROUPS: usize = 1024;

/// The most splits per (query row, head) (`MAX_SPLITS` of `attention_merge.wgsl`).
const MAX_SPLITS: usize = 256;

/// How many ranges of positions each (query row, head) of `tokens` query rows after `past`
/// cached ones is split into: 1 when the rows and heads alone give the GPU enough workgroups or
/// the context is short, else enough ranges of `SPLIT_POSITIONS` to cover the context.
fn splits(tokens: usize, heads: usize, past: usize) -> usize {
    let context = past + tokens;
    if tokens * heads >= SPLIT_BELOW_WORKGROUPS || context <= SPLIT_POSITIONS {
        return 1;
    }
    context.div_ceil(SPLIT_POSITIONS).min(MAX_SPLITS)
}

impl WgpuBackend {
    pub(crate) fn op_attention(
        &self,
        q: &WgpuTensor,
        k: &WgpuTensor,
        v: &WgpuTensor,
        spec: &AttentionSpec,
    ) -> Result<WgpuTensor, ComputeError> {
        let op = "attention";
        let tokens = q.rows;
        let context = spec.past + tokens;
        u32_of(op, "positions", context)?;
        let out = self.alloc(op, tokens, q.cols)?;
        let produced = self
            .int8_producer(tokens, q.cols)
            .filter(|_| spec.head_dim.is_multiple_of(32) && spec.head_dim <= MAX_Q_HEAD_DIM);
        let splits = splits(tokens, spec.n_heads, spec.past);
        let span = context.div_ceil(splits);
        let prm = params(&[
            u32_of(op, "query rows", tokens)?,
            spec.n_heads as u32,
            spec.n_kv_heads as u32,
            spec.head_dim as u32,
            spec.past as u32,
            spec.scale.to_bits(),
            span as u32,
            splits as u32,
        ]);
        let workgroups = tokens * spec.n_heads;
        // Several splits write, per (row, head, split), the maximum, the sum and head_dim
        // unnormalized sums, which the merge kernel turns into the output.
        let parts = (splits > 1).then(|| {
            self.pool
                .take((workgroups * splits * (spec.head_dim + 2) * 4) as u64)
        });
        let dst = parts.as_ref().map_or(out.buf(), |p| p.buffer());
        let binds = vec![
            Bind::Data(&prm),
            Bind::Buffer(q.buf()),
            Bind::Buffer(k.buf()),
            Bind::Buffer(v.buf()),
            Bind::Buffer(dst),
        ];
        let attention_produces = produced.as_ref().filter(|_| parts.is_none());
        let names = ("attention", "attention_q");
        self.run_producer(op, names, binds, attention_produces, workgroups * splits)?;
        if let Some(parts) = &parts {
            let binds = vec![
                Bind::Data(&prm),
                Bind::Buffer(parts.buffer()),
                Bind::Buffer(out.buf()),
            ];
            let names = ("attention_merge", "attention_merge_q");
            self.run_producer(op, names, binds, produced.as_ref(), workgroups)?;
        }
        if let Some(p) = produced {
            self.keep_produced(&out, p);
        }
        Ok(out)
    }

    /// Runs kernel `names.0` over `binds`, or, when `produced` asks for int8 blocks, `names.1`
    /// with the blocks' buffer bound last.
    fn run_producer<'a>(
        &self,
        op: &'static str,
        names: (&'static str, &'static str),
        mut binds: Vec<Bind<'a>>,
        produced: Option<&'a ProducedInt8>,
        groups: usize,
    ) -> Result<(), ComputeError> {
        let key = match produced {
            Some(p) => {
                binds.push(Bind::Buffer(p.buffer()));
                KernelKey::new(names.1).with("ORDER", p.order())
            }
            None => KernelKey::new(names.0),
        };
        self.run(op, key.with("WG", ATTENTION_THREADS), &binds, groups)
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
