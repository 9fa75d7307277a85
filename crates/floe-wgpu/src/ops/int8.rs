//! int8 activations for the one-token products (`WgpuOptions::int8_activations`): x is
//! quantized per 32 values (`quantize_x.wgsl`) and the `_i8` kernels multiply its codes with the
//! weights' codes by packed integer dot products (`dot4I8Packed`), for 4-bit affine and Q8_0
//! weights. Each x value is off by at most max |x| / 254 of its block of 32.
//!
//! The last quantization is kept with the version of the tensor it came from, so consecutive
//! products of one x (a layer's q/k/v projections, the experts' gate and up) quantize it once.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use floe_compute::ComputeError;
use floe_quant::QuantFormat;

use crate::backend::{params, u32_of, WgpuBackend};
use crate::pipelines::KernelKey;
use crate::pool::PooledBuffer;
use crate::recorder::Bind;
use crate::tensor::WgpuTensor;

/// A tensor's int8 blocks: which contents (version, shape) and code order they came from.
pub(crate) struct QuantizedX {
    version: u64,
    shape: [usize; 2],
    order: u32,
    blocks: Arc<PooledBuffer>,
}

/// Bytes of one quantized block of 32 x values: 8 code words, d, Σ x and two pad words.
const BLOCK_BYTES: u64 = 48;

impl WgpuBackend {
    /// `x`'s int8 blocks for an integer-dot product over `format` weights (x's columns a
    /// multiple of 32), or `None` when int8 activations are off or `format` has no such kernel.
    pub(crate) fn int8_blocks(
        &self,
        op: &'static str,
        x: &WgpuTensor,
        format: QuantFormat,
    ) -> Result<Option<Arc<PooledBuffer>>, ComputeError> {
        if !self.int8_activations.load(Ordering::Relaxed) {
            return Ok(None);
        }
        // The x code order (`ORDER` of `quantize_x.wgsl`) the format's kernel reads.
        let order = match format {
            QuantFormat::Affine(a) if a.bits == 4 => 1,
            QuantFormat::Q8_0 => 0,
            _ => return Ok(None),
        };
        self.quantize_x(op, x, order).map(Some)
    }

    /// `x` quantized to int8 blocks in code order `order`: the kept blocks when they came from
    /// these contents, else newly recorded ones (then kept).
    fn quantize_x(
        &self,
        op: &'static str,
        x: &WgpuTensor,
        order: u32,
    ) -> Result<Arc<PooledBuffer>, ComputeError> {
        let mut last = self.last_int8_x.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = last.as_ref() {
            if q.version == x.version && q.shape == x.shape() && q.order == order {
                return Ok(q.blocks.clone());
            }
        }
        let blocks = x.rows * (x.cols / 32);
        let out = self
            .pool
            .take((blocks as u64 * BLOCK_BYTES).max(BLOCK_BYTES));
        let prm = params(&[u32_of(op, "rows", x.rows)?, u32_of(op, "columns", x.cols)?]);
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(x.buf()),
            Bind::Buffer(out.buffer()),
        ];
        let key = KernelKey::new("quantize_x").with("ORDER", order);
        self.run(op, key, &binds, blocks.div_ceil(64))?;
        let blocks = Arc::new(out);
        *last = Some(QuantizedX {
            version: x.version,
            shape: x.shape(),
            order,
            blocks: blocks.clone(),
        });
        Ok(blocks)
    }
}
