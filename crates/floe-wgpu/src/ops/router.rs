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
        if k > MAX_K {
            return Err(ComputeError::Unsupported(format!(
                "softmax_topk: k = {k} is more than the {MAX_K} this backend selects"
            )));
        }
        let rows = logits.rows;
        let bytes = (rows * k * 8) as u64;
        let out = self.pool.take(bytes);
        let prm = params(&[
            u32_of("softmax_topk", "rows", rows)?,
            logits.cols as u32,
            k as u32,
            renormalize as u32,
        ]);
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(logits.buf()),
            Bind::Buffer(out.buffer()),
        ];
        self.run("softmax_topk", KernelKey::new("softmax_topk"), &binds, rows)?;
        let words: Vec<u32> =
            bytemuck::pod_collect_to_vec(&self.recorder.read(out.buffer(), bytes)?);
        Ok(words
            .chunks_exact(2 * k)
            .map(|row| Routing {
                experts: row[..k].to_vec(),
                weights: row[k..].iter().map(|&w| f32::from_bits(w)).collect(),
            })
            .collect())
    }
}
