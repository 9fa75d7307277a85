//! The recurrent operations of linear-attention layers: causal_conv1d (one invocation per
//! channel) and gated_delta_rule (one invocation per value head × value dimension), each
//! updating its state tensor in place.

use floe_compute::{Activation, ComputeError, DeltaRuleSpec};

use crate::backend::{params, u32_of, WgpuBackend};
use crate::ops::format_constants;
use crate::pipelines::KernelKey;
use crate::recorder::Bind;
use crate::tensor::{WgpuTensor, WgpuWeight};

/// The most taps a convolution kernel's invocation holds in registers.
const MAX_TAPS: usize = 64;
/// The largest key head dimension the delta-rule kernel holds in registers.
const MAX_KEY_DIM: usize = 512;

impl WgpuBackend {
    pub(crate) fn op_causal_conv1d(
        &self,
        x: &WgpuTensor,
        weight: &WgpuWeight,
        state: &mut WgpuTensor,
        activation: Option<Activation>,
    ) -> Result<WgpuTensor, ComputeError> {
        let op = "causal_conv1d";
        if weight.cols > MAX_TAPS {
            return Err(ComputeError::Unsupported(format!(
                "{op}: a kernel of {} taps (this backend supports up to {MAX_TAPS})",
                weight.cols
            )));
        }
        let out = self.alloc(op, x.rows, x.cols)?;
        let f = match activation {
            None => 0,
            Some(Activation::Silu) => 1,
            Some(Activation::Sigmoid) => 2,
        };
        let key = format_constants(
            KernelKey::new("conv1d").with("KS", weight.cols as u32),
            weight.format,
        );
        for chunk in weight.chunks.iter() {
            let prm = params(&[
                u32_of(op, "time steps", x.rows)?,
                u32_of(op, "channels", x.cols)?,
                chunk.row0 as u32,
                chunk.rows as u32,
                f,
                chunk.scale_offset,
                chunk.bias_offset,
            ]);
            let binds = [
                Bind::Data(&prm),
                Bind::Buffer(&chunk.buffer),
                Bind::Buffer(x.buf()),
                Bind::Buffer(state.buf_mut()),
                Bind::Buffer(out.buf()),
            ];
            self.run(op, key.clone(), &binds, chunk.rows.div_ceil(64))?;
        }
        Ok(out)
    }

    pub(crate) fn op_gated_delta_rule(
        &self,
        qkv: &WgpuTensor,
        gates: &WgpuTensor,
        a_log: &WgpuTensor,
        dt_bias: &WgpuTensor,
        state: &mut WgpuTensor,
        spec: &DeltaRuleSpec,
    ) -> Result<WgpuTensor, ComputeError> {
        let op = "gated_delta_rule";
        if spec.key_dim > MAX_KEY_DIM {
            return Err(ComputeError::Unsupported(format!(
                "{op}: key heads of {} dimensions (this backend supports up to {MAX_KEY_DIM})",
                spec.key_dim
            )));
        }
        let out = self.alloc(op, qkv.rows, spec.output_width())?;
        let prm = params(&[
            u32_of(op, "tokens", qkv.rows)?,
            spec.key_heads as u32,
            spec.value_heads as u32,
            spec.value_dim as u32,
            spec.scale.to_bits(),
            spec.qk_l2_norm_eps.is_some() as u32,
            spec.qk_l2_norm_eps.unwrap_or(0.0).to_bits(),
        ]);
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(qkv.buf()),
            Bind::Buffer(gates.buf()),
            Bind::Buffer(a_log.buf()),
            Bind::Buffer(dt_bias.buf()),
            Bind::Buffer(state.buf_mut()),
            Bind::Buffer(out.buf()),
        ];
        let key = KernelKey::new("delta_rule").with("DK", spec.key_dim as u32);
        let invocations = u32_of(op, "value heads × value dimensions", spec.output_width())?;
        self.run(op, key, &binds, (invocations as usize).div_ceil(64))?;
        Ok(out)
    }
}
