//! Moving rows and columns: slice_cols, gather_rows, scatter_add_rows, embed.

use floe_compute::ComputeError;

use crate::backend::{params, u32_of, WgpuBackend};
use crate::ops::format_constants;
use crate::pipelines::KernelKey;
use crate::recorder::Bind;
use crate::tensor::{WgpuTensor, WgpuWeight};

impl WgpuBackend {
    pub(crate) fn op_slice_cols(
        &self,
        x: &WgpuTensor,
        rows: usize,
        len: usize,
        start: usize,
    ) -> Result<WgpuTensor, ComputeError> {
        let out = self.alloc("slice_cols", rows, len)?;
        let n = rows * len;
        let prm = params(&[
            0,
            u32_of("slice_cols", "elements", n)?,
            len as u32,
            x.cols as u32,
            start as u32,
        ]);
        let none = [0u32];
        let binds = [
            Bind::Data(&prm),
            Bind::Data(bytemuck::cast_slice(&none)),
            Bind::Buffer(x.buf()),
            Bind::Buffer(out.buf()),
        ];
        self.run(
            "slice_cols",
            KernelKey::new("rows"),
            &binds,
            n.div_ceil(256),
        )?;
        Ok(out)
    }

    /// Copies `src` over rows `at_row ..` of `dst` with the `rows` kernel, so the copy stays
    /// in the open compute pass (a KV-cache append between two kernels of a layer).
    pub(crate) fn op_write_rows(
        &self,
        dst: &mut WgpuTensor,
        at_row: usize,
        src: &WgpuTensor,
    ) -> Result<(), ComputeError> {
        let n = src.rows * src.cols;
        let prm = params(&[
            2,
            u32_of("write_rows", "elements", n)?,
            src.cols as u32,
            src.cols as u32,
            0,
            u32_of("write_rows", "offset", at_row * dst.cols)?,
            dst.cols as u32,
        ]);
        let none = [0u32];
        let binds = [
            Bind::Data(&prm),
            Bind::Data(bytemuck::cast_slice(&none)),
            Bind::Buffer(src.buf()),
            Bind::Buffer(dst.buf_mut()),
        ];
        let key = KernelKey::new("rows");
        self.run("write_rows", key, &binds, n.div_ceil(256))
    }

    pub(crate) fn op_gather_rows(
        &self,
        x: &WgpuTensor,
        rows: &[u32],
    ) -> Result<WgpuTensor, ComputeError> {
        let out = self.alloc("gather_rows", rows.len(), x.cols)?;
        let n = rows.len() * x.cols;
        let prm = params(&[
            1,
            u32_of("gather_rows", "elements", n)?,
            x.cols as u32,
            x.cols as u32,
            0,
        ]);
        let binds = [
            Bind::Data(&prm),
            Bind::Data(bytemuck::cast_slice(rows)),
            Bind::Buffer(x.buf()),
            Bind::Buffer(out.buf()),
        ];
        self.run(
            "gather_rows",
            KernelKey::new("rows"),
            &binds,
            n.div_ceil(256),
        )?;
        Ok(out)
    }

    pub(crate) fn op_scatter_add_rows(
        &self,
        acc: &mut WgpuTensor,
        src: &WgpuTensor,
        rows: &[u32],
        weights: &[f32],
    ) -> Result<(), ComputeError> {
        let mut idx: Vec<u32> = rows.to_vec();
        idx.extend(weights.iter().map(|w| w.to_bits()));
        let prm = params(&[
            u32_of("scatter_add_rows", "rows", rows.len())?,
            acc.cols as u32,
        ]);
        let groups = acc.cols.div_ceil(256);
        let binds = [
            Bind::Data(&prm),
            Bind::Data(bytemuck::cast_slice(&idx)),
            Bind::Buffer(src.buf()),
            Bind::Buffer(acc.buf_mut()),
        ];
        self.run(
            "scatter_add_rows",
            KernelKey::new("scatter_add"),
            &binds,
            groups,
        )
    }

    pub(crate) fn op_embed(
        &self,
        table: &WgpuWeight,
        ids: &[u32],
    ) -> Result<WgpuTensor, ComputeError> {
        let out = self.alloc("embed", ids.len(), table.cols)?;
        for chunk in table.chunks.iter() {
            let pairs: Vec<u32> = ids
                .iter()
                .enumerate()
                .filter(|(_, &id)| {
                    (id as usize) >= chunk.row0 && (id as usize) < chunk.row0 + chunk.rows
                })
                .flat_map(|(i, &id)| [i as u32, id - chunk.row0 as u32])
                .collect();
            if pairs.is_empty() {
                continue;
            }
            let n = pairs.len() / 2 * table.cols;
            let prm = params(&[
                u32_of("embed", "elements", n)?,
                table.cols as u32,
                chunk.scale_offset,
                chunk.bias_offset,
            ]);
            let binds = [
                Bind::Data(&prm),
                Bind::Data(bytemuck::cast_slice(&pairs)),
                Bind::Buffer(&chunk.buffer),
                Bind::Buffer(out.buf()),
            ];
            let key = format_constants(KernelKey::new("embed"), table.format);
            self.run("embed", key, &binds, n.div_ceil(256))?;
        }
        Ok(out)
    }
}
