//! The expert-indexed product and combine (llama.cpp's `MUL_MAT_ID`): the selected variants of
//! the matrix-vector kernels read each selection's expert id from the routing tensor on the
//! device, so nothing is read back.

use floe_compute::ComputeError;
use floe_quant::QuantFormat;

use super::matmul::{format_constants, scale_type, vector_unit};
use crate::backend::{params, u32_of, WgpuBackend};
use crate::pipelines::KernelKey;
use crate::recorder::Bind;
use crate::stack::{StackChunk, WgpuWeightStack};
use crate::tensor::WgpuTensor;
use crate::CodeDecode;

/// What every chunk's dispatch of one `matmul_selected` shares.
struct Selection<'a> {
    x: &'a WgpuTensor,
    stack: &'a WgpuWeightStack,
    routes: &'a WgpuTensor,
    out: &'a WgpuTensor,
    k: usize,
    selections: usize,
}

impl WgpuBackend {
    /// `[T·k, N]` (shapes checked by the caller): one dispatch per stack chunk.
    pub(crate) fn op_matmul_selected(
        &self,
        x: &WgpuTensor,
        stack: &WgpuWeightStack,
        routes: &WgpuTensor,
    ) -> Result<WgpuTensor, ComputeError> {
        let k = routes.cols / 2;
        let selections = routes.rows * k;
        let out = self.alloc("matmul_selected", selections, stack.rows)?;
        let s = Selection {
            x,
            stack,
            routes,
            out: &out,
            k,
            selections,
        };
        for (index, chunk) in stack.chunks.iter().enumerate() {
            match vector_unit(stack.format, stack.cols) {
                Some(unit) => self.selected_vector(&s, index, chunk, unit)?,
                None => self.selected_generic(&s, index, chunk)?,
            }
        }
        Ok(out)
    }

    /// The parameters of one chunk's dispatch (see `MV_LOCATE_SELECTED` in `shaders.rs`).
    fn selected_params(
        &self,
        s: &Selection<'_>,
        index: usize,
        chunk: &StackChunk,
        row_groups: usize,
    ) -> Result<[u8; 64], ComputeError> {
        let op = "matmul_selected";
        let st = s.stack;
        Ok(params(&[
            u32_of(op, "rows", st.rows)?,
            u32_of(op, "columns", st.cols)?,
            st.rows as u32,
            0,
            st.scale_offset,
            st.bias_offset,
            1,
            u32_of(op, "k", s.k)?,
            (s.x.rows == s.selections) as u32,
            u32_of(op, "the first entry of a chunk", chunk.first)?,
            u32_of(op, "entries of a chunk", chunk.count)?,
            u32_of(op, "entries", st.entries)?,
            (index == 0) as u32,
            u32_of(op, "row groups", row_groups)?,
            u32_of(op, "selections", s.selections)?,
            u32_of(op, "the entry stride", st.stride as usize)?,
        ]))
    }

    fn selected_vector(
        &self,
        s: &Selection<'_>,
        index: usize,
        chunk: &StackChunk,
        unit: u32,
    ) -> Result<(), ComputeError> {
        let st = s.stack;
        let (decode, tuning) = *self.matvec.lock().unwrap_or_else(|e| e.into_inner());
        // Rows per workgroup as for a dense weight of all selected rows: the workgroups of every
        // selection together fill the device.
        let (threads, r) =
            self.matvec_shape(tuning, st.rows * s.selections, st.cols / unit as usize, 1);
        let decode = match decode {
            CodeDecode::Mantissa => 0,
            CodeDecode::Convert => 1,
        };
        let base = |name| {
            KernelKey::new(name)
                .with("WG", threads)
                .with("R", r)
                .with("NT", 1)
                .with("RED", r * threads)
                .with("UNIT", unit)
        };
        let row_groups = st.rows.div_ceil(r as usize);
        let prm = self.selected_params(s, index, chunk, row_groups)?;
        let groups = row_groups * s.selections;
        let (w, x, y, ids) = (&chunk.buffer, s.x.buf(), s.out.buf(), s.routes.buf());
        match st.format {
            QuantFormat::Affine(a) => {
                let key = base("matvec_affine_selected")
                    .with("BITS", a.bits as u32)
                    .with("GROUP", a.group_size as u32)
                    .with("STYPE", scale_type(a.scale))
                    .with("WPU", if a.bits == 8 { 2 } else { 1 })
                    .with("DECODE", decode);
                let binds = [
                    Bind::Data(&prm),
                    Bind::Buffer(w),
                    Bind::Buffer(w),
                    Bind::Buffer(x),
                    Bind::Buffer(y),
                    Bind::Buffer(ids),
                ];
                self.run("matmul_selected", key, &binds, groups)
            }
            QuantFormat::Q8_0 => {
                let key = base("matvec_q8_0_selected").with("DECODE", decode);
                let binds = [
                    Bind::Data(&prm),
                    Bind::Buffer(w),
                    Bind::Buffer(x),
                    Bind::Buffer(y),
                    Bind::Buffer(ids),
                ];
                self.run("matmul_selected", key, &binds, groups)
            }
            QuantFormat::F32 | QuantFormat::F16 | QuantFormat::Bf16 => {
                let ftype = match st.format {
                    QuantFormat::F32 => 0,
                    QuantFormat::F16 => 1,
                    _ => 2,
                };
                let key = base("matvec_float_selected").with("FTYPE", ftype);
                let binds = [
                    Bind::Data(&prm),
                    Bind::Buffer(w),
                    Bind::Buffer(x),
                    Bind::Buffer(y),
                    Bind::Buffer(ids),
                ];
                self.run("matmul_selected", key, &binds, groups)
            }
        }
    }

    /// Shapes the vectorized kernels cannot read in 16-byte units: one workgroup per
    /// (selection, row) with the generic weight reader.
    fn selected_generic(
        &self,
        s: &Selection<'_>,
        index: usize,
        chunk: &StackChunk,
    ) -> Result<(), ComputeError> {
        let st = s.stack;
        let key = format_constants(
            KernelKey::new("matvec_selected_generic")
                .with("WG", Self::reduce_threads(st.cols).min(64)),
            st.format,
        );
        let prm = self.selected_params(s, index, chunk, st.rows)?;
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(&chunk.buffer),
            Bind::Buffer(s.x.buf()),
            Bind::Buffer(s.out.buf()),
            Bind::Buffer(s.routes.buf()),
        ];
        self.run("matmul_selected", key, &binds, st.rows * s.selections)
    }

    /// `[T, C]` (shapes checked by the caller): one invocation per output element.
    pub(crate) fn op_combine_selected(
        &self,
        y: &WgpuTensor,
        routes: &WgpuTensor,
    ) -> Result<WgpuTensor, ComputeError> {
        let op = "combine_selected";
        let k = routes.cols / 2;
        let out = self.alloc(op, routes.rows, y.cols)?;
        let elements = routes.rows * y.cols;
        let prm = params(&[
            u32_of(op, "tokens", routes.rows)?,
            u32_of(op, "columns", y.cols)?,
            u32_of(op, "k", k)?,
        ]);
        u32_of(op, "output elements", elements)?;
        let binds = [
            Bind::Data(&prm),
            Bind::Buffer(routes.buf()),
            Bind::Buffer(y.buf()),
            Bind::Buffer(out.buf()),
        ];
        self.run(
            op,
            KernelKey::new("combine_selected"),
            &binds,
            elements.div_ceil(256),
        )?;
        Ok(out)
    }
}
