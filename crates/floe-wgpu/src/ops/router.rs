//! The MoE router on the GPU: only the chosen ids and their weights are read back.

use floe_compute::{ComputeError, Routing};

use crate::backend::{params, u32_of, WgpuBackend};
use crate::pipelines::KernelKey;
use crate::recorder::Bind;
use crate::tensor::WgpuTensor;

/// The largest `k` the router kernel keeps in workgroup memory.
const MAX_K: usize = 256;

impl WgpuBackend {
    pub(crate) fn op_softmax_topk(
        &self,
        logits: &WgpuTensor,
        k: usize,
        renormalize: bool,
    ) -> Result<Vec<Routing>, ComputeError> {
        let mut routings = self.op_softmax_topk_many(&[(logits, k, renormalize)])?;
        Ok(routings.pop().expect("one routing per request"))
    }

    /// The router kernel of every request, then one read-back of all their results.
    pub(crate) fn op_softmax_topk_many(
        &self,
        requests: &[(&WgpuTensor, usize, bool)],
    ) -> Result<Vec<Vec<Routing>>, ComputeError> {
        let mut outputs = Vec::with_capacity(requests.len());
        for &(logits, k, renormalize) in requests {
            if k > MAX_K {
                return Err(ComputeError::Unsupported(format!(
                    "softmax_topk: k = {k} is more than the {MAX_K} this backend selects"
                )));
            }
            let bytes = (logits.rows * k * 8) as u64;
            let out = self.pool.take(bytes);
            self.record_topk("softmax_topk", logits, k, renormalize, out.buffer(), false)?;
            outputs.push((out, bytes));
        }
        let parts: Vec<(&wgpu::Buffer, u64)> = outputs
            .iter()
            .map(|(out, bytes)| (out.buffer(), *bytes))
            .collect();
        let read = self.recorder.read_many(&parts)?;
        Ok(read
            .iter()
            .zip(requests)
            .map(|(bytes, &(_, k, _))| {
                let words: Vec<u32> = bytemuck::pod_collect_to_vec(bytes);
                words
                    .chunks_exact(2 * k)
                    .map(|row| Routing {
                        experts: row[..k].to_vec(),
                        weights: row[k..].iter().map(|&w| f32::from_bits(w)).collect(),
                    })
                    .collect()
            })
            .collect())
    }

    /// The router with its result left on the device: a `[T, 2k]` routing tensor (ids as
    /// exact f32 values, then weights).
    pub(crate) fn op_route_topk(
        &self,
        logits: &WgpuTensor,
        k: usize,
        renormalize: bool,
    ) -> Result<WgpuTensor, ComputeError> {
        if k > MAX_K {
            return Err(ComputeError::Unsupported(format!(
                "route_topk: k = {k} is more than the {MAX_K} this backend selects"
            )));
        }
        let out = self.alloc("route_topk", logits.rows, 2 * k)?;
        self.record_topk("route_topk", logits, k, renormalize, out.buf(), true)?;
        Ok(out)
    }

    /// Records the router kernel writing each row's `k` ids (u32, or f32 values when
    /// `ids_as_f32`) and `k` weights into `out`.
    fn record_topk(
        &self,
        op: &'static str,
        logits: &WgpuTensor,
        k: usize,
        renormalize: bool,
        out: &wgpu::Buffer,
        ids_as_f32: bool,
    ) -> Result<(), ComputeError> {
        let rows = logits.rows;
        let prm = params(&[
            u32_of(op, "rows", rows)?,
            logits.cols as u32,
            k as u32,
            renormalize as u32,
        ]);
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(logits.buf()),
            Bind::Buffer(out),
        ];
        let key = KernelKey::new("softmax_topk")
            .with("IDF", ids_as_f32 as u32)
            .with("WG", Self::reduce_threads(logits.cols.div_ceil(2)));
        self.run(op, key, &binds, rows)
    }
}
