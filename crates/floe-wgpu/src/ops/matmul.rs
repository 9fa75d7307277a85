//! `x · wᵀ`: the vectorized one-token kernels (`matvec1_*`) for up to four tokens (decode, small
//! expert batches; one pass over the weights per token), a tiled kernel for more (prefill), and a
//! generic kernel for shapes the vectorized kernels cannot read in 16-byte units.

use floe_compute::ComputeError;
use floe_quant::{QuantFormat, ScaleType};

use crate::backend::{params, u32_of, WgpuBackend};
use crate::pipelines::KernelKey;
use crate::recorder::Bind;
use crate::tensor::{WeightChunk, WgpuTensor, WgpuWeight};
use crate::{CodeDecode, MatvecTuning};

/// Invocations a one-token product needs to keep an H200-class GPU's memory system busy
/// (132 SMs × 1024).
const FILL_INVOCATIONS: usize = 128 * 1024;

/// Tokens up to which the one-token kernels are used, once per token; more go to the tiled
/// kernel, which reads each weight tile once for all of them.
const MAX_MATVEC_TOKENS: usize = 4;

/// Adds the constants that tell the generic weight reader (`dequant.wgsl`) the format.
pub(crate) fn format_constants(key: KernelKey, format: QuantFormat) -> KernelKey {
    let (fmt, bits, group, stype) = match format {
        QuantFormat::F32 => (0, 0, 1, 0),
        QuantFormat::F16 => (1, 0, 1, 0),
        QuantFormat::Bf16 => (2, 0, 1, 0),
        QuantFormat::Q8_0 => (3, 8, 32, 0),
        QuantFormat::Affine(a) => (4, a.bits as u32, a.group_size as u32, scale_type(a.scale)),
    };
    key.with("FMT", fmt)
        .with("BITS", bits.max(1))
        .with("GROUP", group)
        .with("STYPE", stype)
}

/// The `STYPE` constant of an affine scale type.
pub(super) fn scale_type(s: ScaleType) -> u32 {
    match s {
        ScaleType::F32 => 0,
        ScaleType::F16 => 1,
        ScaleType::Bf16 => 2,
    }
}

/// Values one invocation reads per 16-byte-unit step of a vectorized kernel, or `None` when rows
/// of `cols` values cannot be read in such units.
pub(super) fn vector_unit(format: QuantFormat, cols: usize) -> Option<u32> {
    let unit = match format {
        QuantFormat::F32 => 4,
        QuantFormat::F16 | QuantFormat::Bf16 => 8,
        QuantFormat::Q8_0 => 32,
        QuantFormat::Affine(a) if a.bits == 2 => 64,
        QuantFormat::Affine(_) => 32,
    };
    cols.is_multiple_of(unit).then_some(unit as u32)
}

impl WgpuBackend {
    pub(crate) fn op_matmul(
        &self,
        x: &WgpuTensor,
        w: &WgpuWeight,
    ) -> Result<WgpuTensor, ComputeError> {
        let tokens = x.rows;
        let out = self.alloc("matmul", tokens, w.rows)?;
        let unit = vector_unit(w.format, w.cols);
        // int8 x for the integer-dot kernels, quantized once for every chunk.
        let xq = if tokens <= MAX_MATVEC_TOKENS && unit.is_some() {
            self.int8_blocks("matmul", x, w.format)?
        } else {
            None
        };
        for chunk in w.chunks.iter() {
            if tokens <= MAX_MATVEC_TOKENS {
                match unit {
                    Some(unit) => {
                        let x_int8 = xq.as_ref().map(|q| q.buffer());
                        self.matvec1(x, x_int8, w, chunk, &out, unit)?
                    }
                    None => self.matvec_generic(x, w, chunk, &out)?,
                }
            } else {
                self.matmul_tiled(x, w, chunk, &out)?;
            }
        }
        Ok(out)
    }

    /// Runs a kernel whose bindings are its parameters, the buffer of a weight in `format`
    /// (twice for affine weights: as 16-byte units and as words, for the scale planes), then
    /// `rest` in order.
    pub(crate) fn run_on_weight(
        &self,
        op: &'static str,
        key: KernelKey,
        prm: &[u8],
        (weight, format): (&wgpu::Buffer, QuantFormat),
        rest: &[&wgpu::Buffer],
        groups: usize,
    ) -> Result<(), ComputeError> {
        let mut binds = vec![Bind::Data(prm), Bind::Buffer(weight)];
        if matches!(format, QuantFormat::Affine(_)) {
            binds.push(Bind::Buffer(weight));
        }
        binds.extend(rest.iter().map(|b| Bind::Buffer(b)));
        self.run(op, key, &binds, groups)
    }

    fn chunk_params(
        &self,
        x: &WgpuTensor,
        w: &WgpuWeight,
        chunk: &WeightChunk,
    ) -> Result<[u8; 64], ComputeError> {
        Ok(params(&[
            u32_of("matmul", "rows", chunk.rows)?,
            u32_of("matmul", "columns", w.cols)?,
            w.rows as u32,
            chunk.row0 as u32,
            chunk.scale_offset,
            chunk.bias_offset,
            x.rows as u32,
        ]))
    }

    /// The shape `(WG, TPR, NR)` of the one-token kernel for rows of `units` units (of the
    /// integer-dot kernel when `int8`): WG invocations per workgroup, TPR invocations per row
    /// slot, NR rows per slot.
    pub(crate) fn matvec1_shape(
        &self,
        tuning: Option<MatvecTuning>,
        format: QuantFormat,
        (rows, units): (usize, usize),
        int8: bool,
    ) -> (u32, u32, u32) {
        if let Some(t) = tuning {
            let threads = t.threads.clamp(1, 256).next_power_of_two();
            let rows = t.rows.clamp(1, threads).next_power_of_two();
            let per_invocation = t.rows_per_invocation.clamp(1, 8).next_power_of_two();
            return (threads, threads / rows, per_invocation);
        }
        // Large matrices (throughput): the fastest shapes of `gpu_bench --tune` on an H200 in
        // runs 6-9 (docs/performance.md): few invocations per row, several rows per invocation
        // sharing its x loads.
        let (tpr, nr, wg) = match (format, int8) {
            (QuantFormat::Affine(_), true) => (16u32, 2u32, 64u32),
            (QuantFormat::Q8_0, true) => (16, 1, 64),
            (QuantFormat::Affine(a), _) if a.bits == 8 => (4, 4, 64),
            (QuantFormat::Affine(_), _) => (4, 4, 256),
            (QuantFormat::Q8_0, _) => (16, 4, 64),
            _ => (8, 4, 128),
        };
        let invocations = |tpr: u32, nr: u32| rows.div_ceil(nr as usize) * tpr as usize;
        if invocations(tpr, nr) >= FILL_INVOCATIONS / 4 {
            return (wg, tpr, nr);
        }
        // Small matrices (a decode step's projections, each waiting for the previous kernel):
        // the kernel's latency is what counts, and the fastest chain of dependent q4 products in
        // run 9 had 4 rows per invocation, 32 invocations per row and 128 per workgroup (13.7 µs
        // per [4096, 2048] product against 23.0 µs with 1 row per invocation). Rows get more
        // invocations until the matrix fills the device (~128 Ki) or each has 2 units left.
        let nr = 4;
        let most = ((units / 2).max(1).next_power_of_two() as u32).min(64);
        let mut tpr = tpr.min(most);
        while tpr < most && invocations(tpr, nr) < FILL_INVOCATIONS {
            tpr *= 2;
        }
        let tpr = tpr.min((units as u32).next_power_of_two());
        (128.max(tpr), tpr, nr)
    }

    /// The kernel key of the one-token kernel (`matvec1_*`, or `matvec1s_*` when `selected`;
    /// the integer-dot `*_i8` variant when `int8`) for weights in `format` read in units of
    /// `unit` values, and the output rows one of its workgroups computes.
    pub(crate) fn matvec1_key(
        &self,
        format: QuantFormat,
        rows: usize,
        cols: usize,
        unit: u32,
        selected: bool,
        int8: bool,
    ) -> (KernelKey, u32) {
        let (decode, tuning) = *self.matvec.lock().unwrap_or_else(|e| e.into_inner());
        let (wg, tpr, nr) = self.matvec1_shape(tuning, format, (rows, cols / unit as usize), int8);
        let decode = match decode {
            CodeDecode::Auto => match format {
                QuantFormat::Affine(a) if a.bits == 8 => 1,
                QuantFormat::Q8_0 => 1,
                _ => 0,
            },
            CodeDecode::Mantissa => 0,
            CodeDecode::Convert => 1,
            CodeDecode::HalfPairs => 2,
        };
        let name = |family: &'static str| match (family, selected, int8) {
            ("affine", false, false) => "matvec1_affine",
            ("affine", true, false) => "matvec1s_affine",
            ("affine", false, true) => "matvec1_affine_i8",
            ("affine", true, true) => "matvec1s_affine_i8",
            ("q8_0", false, false) => "matvec1_q8_0",
            ("q8_0", true, false) => "matvec1s_q8_0",
            ("q8_0", false, true) => "matvec1_q8_0_i8",
            ("q8_0", true, true) => "matvec1s_q8_0_i8",
            (_, false, _) => "matvec1_float",
            (_, true, _) => "matvec1s_float",
        };
        let base = |family| {
            KernelKey::new(name(family))
                .with("WG", wg)
                .with("TPR", tpr)
                .with("NR", nr)
                .with("UNIT", unit)
        };
        let key = match format {
            QuantFormat::Affine(a) => base("affine")
                .with("BITS", a.bits as u32)
                .with("GROUP", a.group_size as u32)
                .with("STYPE", scale_type(a.scale))
                .with("WPU", if a.bits == 8 { 2 } else { 1 })
                .with("DECODE", decode),
            QuantFormat::Q8_0 => base("q8_0").with("DECODE", decode.min(1)),
            QuantFormat::F32 => base("float").with("FTYPE", 0),
            QuantFormat::F16 => base("float").with("FTYPE", 1),
            QuantFormat::Bf16 => base("float").with("FTYPE", 2),
        };
        (key, wg / tpr * nr)
    }

    /// One chunk's one-token product, with the integer-dot kernel when x's int8 blocks are given.
    fn matvec1(
        &self,
        x: &WgpuTensor,
        x_int8: Option<&wgpu::Buffer>,
        w: &WgpuWeight,
        chunk: &WeightChunk,
        out: &WgpuTensor,
        unit: u32,
    ) -> Result<(), ComputeError> {
        let (key, rows_per_group) =
            self.matvec1_key(w.format, chunk.rows, w.cols, unit, false, x_int8.is_some());
        let row_groups = chunk.rows.div_ceil(rows_per_group as usize);
        let mut prm = self.chunk_params(x, w, chunk)?;
        prm[28..32].copy_from_slice(&u32_of("matmul", "row groups", row_groups)?.to_le_bytes());
        let groups = row_groups * x.rows;
        self.run_on_weight(
            "matmul",
            key,
            &prm,
            (&chunk.buffer, w.format),
            &[x_int8.unwrap_or(x.buf()), out.buf()],
            groups,
        )
    }

    fn matvec_generic(
        &self,
        x: &WgpuTensor,
        w: &WgpuWeight,
        chunk: &WeightChunk,
        out: &WgpuTensor,
    ) -> Result<(), ComputeError> {
        let key = format_constants(
            KernelKey::new("matvec_generic").with("WG", Self::reduce_threads(w.cols).min(64)),
            w.format,
        );
        let prm = self.chunk_params(x, w, chunk)?;
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(&chunk.buffer),
            Bind::Buffer(x.buf()),
            Bind::Buffer(out.buf()),
        ];
        self.run("matmul", key, &binds, chunk.rows * x.rows)
    }

    fn matmul_tiled(
        &self,
        x: &WgpuTensor,
        w: &WgpuWeight,
        chunk: &WeightChunk,
        out: &WgpuTensor,
    ) -> Result<(), ComputeError> {
        let row_tiles = chunk.rows.div_ceil(64);
        let token_tiles = x.rows.div_ceil(32);
        let mut prm = self.chunk_params(x, w, chunk)?;
        prm[28..32].copy_from_slice(&(row_tiles as u32).to_le_bytes());
        let key = format_constants(KernelKey::new("matmul_tiled"), w.format);
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(&chunk.buffer),
            Bind::Buffer(x.buf()),
            Bind::Buffer(out.buf()),
        ];
        self.run("matmul", key, &binds, row_tiles * token_tiles)
    }
}
