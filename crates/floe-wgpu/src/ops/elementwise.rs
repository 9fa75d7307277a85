//! swiglu (with int8 blocks of its result where wanted), activations, add and mul.

use floe_compute::ComputeError;

use crate::backend::{params, u32_of, WgpuBackend};
use crate::ops::QUANTIZE_THREADS;
use crate::pipelines::KernelKey;
use crate::recorder::Bind;
use crate::tensor::WgpuTensor;

impl WgpuBackend {
    /// Element-wise kernel `op` (see `elementwise.wgsl`) of `a` and `b`, shaped like `a`.
    pub(crate) fn op_elementwise(
        &self,
        name: &'static str,
        op: u32,
        a: &WgpuTensor,
        b: &WgpuTensor,
    ) -> Result<WgpuTensor, ComputeError> {
        self.record_elementwise(name, op, a, b, a.shape())
    }

    /// Element-wise kernel `op` with a `[rows, cols]` output (`a`'s shape, or half its width
    /// for op 6, the SwiGLU of `a`'s halves).
    fn record_elementwise(
        &self,
        name: &'static str,
        op: u32,
        a: &WgpuTensor,
        b: &WgpuTensor,
        [rows, cols]: [usize; 2],
    ) -> Result<WgpuTensor, ComputeError> {
        let out = self.alloc(name, rows, cols)?;
        let n = rows * cols;
        let prm = params(&[u32_of(name, "elements", n)?, op, cols as u32]);
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(a.buf()),
            Bind::Buffer(b.buf()),
            Bind::Buffer(out.buf()),
        ];
        self.run(name, KernelKey::new("elementwise"), &binds, n.div_ceil(256))?;
        Ok(out)
    }

    /// `silu(gate) · up`, also writing the int8 blocks of the result where the product that
    /// reads it wants them (one kernel, `swiglu_q.wgsl`).
    pub(crate) fn op_swiglu(
        &self,
        gate: &WgpuTensor,
        up: &WgpuTensor,
    ) -> Result<WgpuTensor, ComputeError> {
        self.record_swiglu(gate, up, None)
    }

    /// `silu(gate) · up` of `x`'s rows `[gate | up]`, read in place.
    pub(crate) fn op_swiglu_packed(&self, x: &WgpuTensor) -> Result<WgpuTensor, ComputeError> {
        self.record_swiglu(x, x, Some(x.cols / 2))
    }

    /// SwiGLU of `gate` and `up` (`half: None`), or of the halves of `gate`'s rows (each
    /// `half` columns wide; `up` is `gate`), with int8 blocks where wanted.
    fn record_swiglu(
        &self,
        gate: &WgpuTensor,
        up: &WgpuTensor,
        half: Option<usize>,
    ) -> Result<WgpuTensor, ComputeError> {
        let cols = half.unwrap_or(gate.cols);
        let Some(produced) = self.int8_producer(gate.rows, cols) else {
            return match half {
                None => self.op_elementwise("swiglu", 3, gate, up),
                Some(h) => self.record_elementwise("swiglu_packed", 6, gate, gate, [gate.rows, h]),
            };
        };
        let out = self.alloc("swiglu", gate.rows, cols)?;
        let blocks = gate.rows * cols / 32;
        let prm = params(&[
            u32_of("swiglu", "blocks", blocks)?,
            half.unwrap_or(0) as u32,
        ]);
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(gate.buf()),
            Bind::Buffer(up.buf()),
            Bind::Buffer(out.buf()),
            Bind::Buffer(produced.buffer()),
        ];
        let key = KernelKey::new("swiglu_q")
            .with("ORDER", produced.order())
            .with("WG", QUANTIZE_THREADS);
        self.run("swiglu", key, &binds, blocks.div_ceil(8))?;
        self.keep_produced(&out, produced);
        Ok(out)
    }
}
