//! swiglu, activations, add and mul.

use floe_compute::ComputeError;

use crate::backend::{params, u32_of, WgpuBackend};
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
        let out = self.alloc(name, a.rows, a.cols)?;
        let n = a.rows * a.cols;
        let prm = params(&[u32_of(name, "elements", n)?, op, a.cols as u32]);
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(a.buf()),
            Bind::Buffer(b.buf()),
            Bind::Buffer(out.buf()),
        ];
        self.run(name, KernelKey::new("elementwise"), &binds, n.div_ceil(256))?;
        Ok(out)
    }
}
