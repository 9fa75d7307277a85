//! rms_norm and rope.

use floe_compute::{ComputeError, RopeSpec};

use crate::backend::{params, u32_of, WgpuBackend};
use crate::ops::format_constants;
use crate::pipelines::KernelKey;
use crate::recorder::Bind;
use crate::tensor::{WgpuTensor, WgpuWeight};

impl WgpuBackend {
    pub(crate) fn op_rms_norm(
        &self,
        x: &WgpuTensor,
        w: &WgpuWeight,
        eps: f32,
        offset: f32,
    ) -> Result<WgpuTensor, ComputeError> {
        let out = self.alloc("rms_norm", x.rows, x.cols)?;
        let chunk = &w.chunks[0];
        let prm = params(&[
            u32_of("rms_norm", "rows", x.rows)?,
            x.cols as u32,
            eps.to_bits(),
            offset.to_bits(),
            chunk.scale_offset,
            chunk.bias_offset,
        ]);
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(&chunk.buffer),
            Bind::Buffer(x.buf()),
            Bind::Buffer(out.buf()),
        ];
        let key = format_constants(
            KernelKey::new("rms_norm").with("WG", Self::reduce_threads(x.cols)),
            w.format,
        );
        self.run("rms_norm", key, &binds, x.rows)?;
        Ok(out)
    }

    /// RoPE with the cos/sin table computed on the CPU in f64 (GPU `sin`/`cos` lose accuracy
    /// for the large angles of late positions).
    pub(crate) fn op_rope(
        &self,
        x: &WgpuTensor,
        positions: &[u32],
        spec: &RopeSpec,
    ) -> Result<WgpuTensor, ComputeError> {
        let out = self.alloc("rope", x.rows, x.cols)?;
        let half = spec.rotary_dim / 2;
        let mut table = Vec::with_capacity(positions.len() * half.max(1) * 2);
        for &p in positions {
            for i in 0..half {
                let freq = (spec.theta as f64).powf(-2.0 * i as f64 / spec.rotary_dim as f64);
                let angle = p as f64 * freq;
                table.push(angle.cos() as f32);
                table.push(angle.sin() as f32);
            }
        }
        if table.is_empty() {
            table.push(0.0);
        }
        let n = x.rows * x.cols;
        let prm = params(&[
            u32_of("rope", "elements", n)?,
            x.cols as u32,
            spec.head_dim as u32,
            spec.rotary_dim as u32,
            spec.interleaved as u32,
        ]);
        let binds = [
            Bind::Data(&prm),
            Bind::Data(bytemuck::cast_slice(&table)),
            Bind::Buffer(x.buf()),
            Bind::Buffer(out.buf()),
        ];
        self.run("rope", KernelKey::new("rope"), &binds, n.div_ceil(256))?;
        Ok(out)
    }
}
