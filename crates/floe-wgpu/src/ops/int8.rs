//! int8 activations for the one-token products (`WgpuOptions::int8_activations`): x is
//! quantized per 32 values (`quantize_x.wgsl`) and the `_i8` kernels multiply its codes with the
//! weights' codes by packed integer dot products (`dot4I8Packed`), for 4-bit affine and Q8_0
//! weights. Each x value is off by at most max |x| / 254 of its block of 32.
//!
//! The last few quantizations are kept with the version of the tensor they came from, so
//! consecutive products of one x (a layer's q/k/v projections, the experts' gate and up)
//! quantize it once. The kernels that make most product inputs (rms_norm, its fused residual
//! add, SwiGLU) write their output's blocks as they go (`int8_producer`), in the code order the
//! last int8 product read, so those products need no quantizing dispatch at all.

use std::collections::VecDeque;
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

/// Bytes of one quantized block of 32 x values: 8 code words, d, Σ x, Σ q and a pad word.
const BLOCK_BYTES: u64 = 48;

/// Invocations of a workgroup that quantizes 8 blocks, one code word each.
pub(crate) const QUANTIZE_THREADS: u32 = 64;

/// How many quantizations are kept: a layer's normed x, attention's q/k norms and the
/// attention output may all be quantized before the next product of the normed x.
const KEPT: usize = 4;

/// No int8 product has run yet, so producers do not know which code order to write.
pub(crate) const NO_ORDER: u32 = u32::MAX;

/// The narrowest rows a producer writes int8 blocks for: product inputs are wider, while narrow
/// rows (per-head q/k norms) would only push kept blocks out.
const PRODUCER_MIN_COLUMNS: usize = 512;

/// Int8 blocks a producer kernel writes for its output tensor (see `int8_producer`).
pub(crate) struct ProducedInt8 {
    order: u32,
    blocks: PooledBuffer,
}

impl ProducedInt8 {
    /// The code order (`ORDER` of `quantize_block.wgsl`) the kernel must write.
    pub(crate) fn order(&self) -> u32 {
        self.order
    }

    /// The buffer the kernel writes the blocks to.
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.blocks.buffer()
    }
}

/// The number of int8 blocks of a `[rows, cols]` x (cols a multiple of 32), in bytes.
fn blocks_bytes(rows: usize, cols: usize) -> u64 {
    ((rows * (cols / 32)) as u64 * BLOCK_BYTES).max(BLOCK_BYTES)
}

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
        self.int8_order.store(order, Ordering::Relaxed);
        self.quantize_x(op, x, order).map(Some)
    }

    /// Blocks for a producer kernel to write the int8 quantization of its `[rows, cols]` output
    /// into, alongside the f32 values: `None` when int8 activations are off, no int8 product has
    /// run yet (so the code order is unknown), or the rows are narrow or not whole blocks.
    /// After recording the kernel, hand them to `keep_produced` with the output tensor.
    pub(crate) fn int8_producer(&self, rows: usize, cols: usize) -> Option<ProducedInt8> {
        let order = self.int8_order.load(Ordering::Relaxed);
        let wanted = self.int8_activations.load(Ordering::Relaxed)
            && order != NO_ORDER
            && cols >= PRODUCER_MIN_COLUMNS
            && cols.is_multiple_of(32);
        wanted.then(|| ProducedInt8 {
            order,
            blocks: self.pool.take(blocks_bytes(rows, cols)),
        })
    }

    /// Keeps `produced` as the int8 quantization of `x`'s current contents.
    pub(crate) fn keep_produced(&self, x: &WgpuTensor, produced: ProducedInt8) {
        self.keep(QuantizedX {
            version: x.version,
            shape: x.shape(),
            order: produced.order,
            blocks: Arc::new(produced.blocks),
        });
    }

    /// Keeps `q`, forgetting the oldest kept quantization beyond `KEPT`.
    fn keep(&self, q: QuantizedX) {
        let mut kept = self.kept_int8_x.lock().unwrap_or_else(|e| e.into_inner());
        kept.push_front(q);
        kept.truncate(KEPT);
    }

    /// `x` quantized to int8 blocks in code order `order`: the kept blocks when they came from
    /// these contents, else newly recorded ones (then kept).
    fn quantize_x(
        &self,
        op: &'static str,
        x: &WgpuTensor,
        order: u32,
    ) -> Result<Arc<PooledBuffer>, ComputeError> {
        let found = self
            .kept_int8_x
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|q| q.version == x.version && q.shape == x.shape() && q.order == order)
            .map(|q| q.blocks.clone());
        if let Some(blocks) = found {
            return Ok(blocks);
        }
        let blocks = x.rows * (x.cols / 32);
        let out = self.pool.take(blocks_bytes(x.rows, x.cols));
        let prm = params(&[u32_of(op, "rows", x.rows)?, u32_of(op, "columns", x.cols)?]);
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(x.buf()),
            Bind::Buffer(out.buffer()),
        ];
        let key = KernelKey::new("quantize_x")
            .with("ORDER", order)
            .with("WG", QUANTIZE_THREADS);
        self.run(op, key, &binds, blocks.div_ceil(8))?;
        let blocks = Arc::new(out);
        self.keep(QuantizedX {
            version: x.version,
            shape: x.shape(),
            order,
            blocks: blocks.clone(),
        });
        Ok(blocks)
    }
}

/// The kept quantizations, most recent first.
pub(crate) type KeptInt8 = std::sync::Mutex<VecDeque<QuantizedX>>;
