//! The expert-indexed product and combine (llama.cpp's `MUL_MAT_ID`): the selected variants of
//! the matrix-vector kernels read each selection's expert id from the routing tensor on the
//! device, so nothing is read back.

use floe_compute::ComputeError;

use super::matmul::{format_constants, vector_unit};
use crate::backend::{params, u32_of, WgpuBackend};
use crate::pipelines::KernelKey;
use crate::recorder::Bind;
use crate::stack::{StackChunk, WgpuWeightStack};
use crate::tensor::WgpuTensor;

/// What every chunk's dispatch of one `matmul_selected` shares.
struct Selection<'a> {
    x: &'a WgpuTensor,
    /// x's int8 blocks, when the integer-dot kernels run.
    x_int8: Option<&'a wgpu::Buffer>,
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
        let unit = vector_unit(stack.format, stack.cols);
        // int8 x for the integer-dot kernels, quantized once for every chunk.
        let xq = if unit.is_some() {
            self.int8_blocks("matmul_selected", x, stack.format)?
        } else {
            None
        };
        let s = Selection {
            x,
            x_int8: xq.as_ref().map(|q| q.buffer()),
            stack,
            routes,
            out: &out,
            k,
            selections,
        };
        for (index, chunk) in stack.chunks.iter().enumerate() {
            match unit {
                Some(unit) => self.selected_vector(&s, chunk, unit)?,
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

    /// The one-token kernels' selected variants (`matvec1s_*`, prologue `mv1_sel.wgsl`):
    /// workgroups are (row group, selection).
    fn selected_vector(
        &self,
        s: &Selection<'_>,
        chunk: &StackChunk,
        unit: u32,
    ) -> Result<(), ComputeError> {
        let op = "matmul_selected";
        let st = s.stack;
        let (key, rows_per_group) = self.matvec1_key(
            st.format,
            st.rows * s.selections,
            st.cols,
            unit,
            true,
            s.x_int8.is_some(),
        );
        let row_groups = st.rows.div_ceil(rows_per_group as usize);
        let per_selection = s.x.rows == s.selections;
        let prm = params(&[
            u32_of(op, "rows", st.rows)?,
            u32_of(op, "columns", st.cols)?,
            st.rows as u32,
            0,
            st.scale_offset,
            st.bias_offset,
            0,
            u32_of(op, "row groups", row_groups)?,
            u32_of(op, "k", s.k)?,
            if per_selection { 1 } else { s.k as u32 },
            u32_of(op, "the entry stride", st.stride as usize)?,
            u32_of(op, "the first entry of a chunk", chunk.first)?,
            u32_of(op, "entries of a chunk", chunk.count)?,
            u32_of(op, "entries", st.entries)?,
            u32_of(op, "route columns", 2 * s.k)?,
            u32_of(op, "selections", s.selections)?,
        ]);
        let groups = row_groups * s.selections;
        self.run_on_weight(
            op,
            key,
            &prm,
            (&chunk.buffer, st.format),
            &[s.x_int8.unwrap_or(s.x.buf()), s.out.buf(), s.routes.buf()],
            groups,
        )
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
