//! rms_norm (alone or fused with the residual add before it), rope, and the per-head norm fused
//! with the rope after it.

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
        let (out, _) = self.record_rms_norm(x, None, w, eps, offset)?;
        Ok(out)
    }

    /// `x + delta` and its RMSNorm from one kernel: `(sum, normed)`.
    pub(crate) fn op_add_rms_norm(
        &self,
        x: &WgpuTensor,
        delta: &WgpuTensor,
        w: &WgpuWeight,
        eps: f32,
        offset: f32,
    ) -> Result<(WgpuTensor, WgpuTensor), ComputeError> {
        let (out, sum) = self.record_rms_norm(x, Some(delta), w, eps, offset)?;
        let sum = sum.expect("the add_ kernel writes the sum");
        Ok((sum, out))
    }

    /// Records the rms_norm kernel over `x` (or over `x + delta`, then also returning that sum),
    /// writing the output's int8 blocks too where the products that read it want them.
    fn record_rms_norm(
        &self,
        x: &WgpuTensor,
        delta: Option<&WgpuTensor>,
        w: &WgpuWeight,
        eps: f32,
        offset: f32,
    ) -> Result<(WgpuTensor, Option<WgpuTensor>), ComputeError> {
        let op = if delta.is_some() {
            "add_rms_norm"
        } else {
            "rms_norm"
        };
        let out = self.alloc(op, x.rows, x.cols)?;
        let sum = match delta {
            Some(_) => Some(self.alloc(op, x.rows, x.cols)?),
            None => None,
        };
        let produced = self.int8_producer(x.rows, x.cols);
        let chunk = &w.chunks[0];
        let prm = params(&[
            u32_of(op, "rows", x.rows)?,
            x.cols as u32,
            eps.to_bits(),
            offset.to_bits(),
            chunk.scale_offset,
            chunk.bias_offset,
        ]);
        let mut binds = vec![
            Bind::Data(&prm),
            Bind::Buffer(&chunk.buffer),
            Bind::Buffer(x.buf()),
            Bind::Buffer(out.buf()),
        ];
        if let (Some(d), Some(s)) = (delta, &sum) {
            binds.push(Bind::Buffer(d.buf()));
            binds.push(Bind::Buffer(s.buf()));
        }
        let name = match (delta.is_some(), produced.is_some()) {
            (false, false) => "rms_norm",
            (false, true) => "rms_norm_q",
            (true, false) => "add_rms_norm",
            (true, true) => "add_rms_norm_q",
        };
        let mut key = KernelKey::new(name).with("WG", Self::reduce_threads(x.cols));
        if let Some(p) = &produced {
            binds.push(Bind::Buffer(p.buffer()));
            key = key.with("ORDER", p.order());
        }
        self.run(op, format_constants(key, w.format), &binds, x.rows)?;
        if let Some(p) = produced {
            self.keep_produced(&out, p);
        }
        Ok((out, sum))
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
        let table = rope_table(positions, spec);
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

    /// The RMSNorm of each head, then RoPE, in one kernel (`head_norm_rope.wgsl`).
    pub(crate) fn op_head_norm_rope(
        &self,
        x: &WgpuTensor,
        norm: &HeadNorm<'_>,
    ) -> Result<WgpuTensor, ComputeError> {
        let out = self.alloc("head_norm_rope", x.rows, x.cols)?;
        let window = HeadWindow {
            src: x,
            src_start: 0,
            width: x.cols,
            dst: out.buf(),
            dst_cols: x.cols,
            dst_start: 0,
        };
        self.record_head_norm_rope(&window, norm, None)?;
        Ok(out)
    }

    /// Records `head_norm_rope.wgsl` from `window.src`'s columns to `window.dst`; with
    /// `v: Some((dst, start))` its other workgroups copy as many columns from `start` on to
    /// `dst`, laid out as `window.dst` (`head_norm_rope_v`).
    pub(crate) fn record_head_norm_rope(
        &self,
        window: &HeadWindow<'_>,
        norm: &HeadNorm<'_>,
        v: Option<(&wgpu::Buffer, usize)>,
    ) -> Result<(), ComputeError> {
        let op = "head_norm_rope";
        let (x, spec) = (window.src, norm.rope);
        let table = rope_table(norm.positions, spec);
        let chunk = &norm.weight.chunks[0];
        let heads = window.width / spec.head_dim;
        let prm = params(&[
            u32_of(op, "rows", x.rows)?,
            window.width as u32,
            spec.rotary_dim as u32,
            spec.interleaved as u32,
            norm.eps.to_bits(),
            norm.offset.to_bits(),
            chunk.scale_offset,
            chunk.bias_offset,
            x.cols as u32,
            window.src_start as u32,
            window.dst_cols as u32,
            u32_of(op, "output offset", window.dst_start)?,
            v.map_or(0, |(_, start)| start as u32),
        ]);
        let mut binds = vec![
            Bind::Data(&prm),
            Bind::Buffer(&chunk.buffer),
            Bind::Data(bytemuck::cast_slice(&table)),
            Bind::Buffer(x.buf()),
            Bind::Buffer(window.dst),
        ];
        let (name, groups) = match v {
            Some((dst, _)) => {
                binds.push(Bind::Buffer(dst));
                ("head_norm_rope_v", 2 * x.rows * heads)
            }
            None => (op, x.rows * heads),
        };
        let key = KernelKey::new(name)
            .with("WG", Self::reduce_threads(spec.head_dim))
            .with("HD", spec.head_dim as u32);
        let key = format_constants(key, norm.weight.format);
        self.run(op, key, &binds, groups)
    }
}

/// A per-head norm and the RoPE after it (`head_norm_rope`).
pub(crate) struct HeadNorm<'a> {
    pub weight: &'a WgpuWeight,
    pub eps: f32,
    pub offset: f32,
    pub positions: &'a [u32],
    pub rope: &'a RopeSpec,
}

/// Where `head_norm_rope` reads heads and writes them: columns `src_start .. src_start +
/// width` of every row of `src`, to row `r` at element `dst_start + r · dst_cols` of `dst`.
pub(crate) struct HeadWindow<'a> {
    pub src: &'a WgpuTensor,
    pub src_start: usize,
    pub width: usize,
    pub dst: &'a wgpu::Buffer,
    pub dst_cols: usize,
    pub dst_start: usize,
}

/// Per position, the `rotary_dim / 2` (cos, sin) pairs of RoPE, in f64 rounded to f32 (never
/// empty: a binding needs a value).
fn rope_table(positions: &[u32], spec: &RopeSpec) -> Vec<f32> {
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
    table
}
