//! The CPU backend: f32 activations in main memory, weights read zero-copy from their bytes,
//! operations parallelized over a rayon thread pool of the backend's own.

mod attention;
mod elementwise;
mod matmul;
mod norm;
mod recurrent;
mod rope;
mod router;
mod rows;
mod selected;
mod simd;
mod tensor;
mod weight_rows;

use rayon::prelude::*;

use crate::{
    check, Activation, AttentionSpec, Backend, ComputeError, DeltaRuleSpec, RopeSpec, Routing,
    WeightData,
};
pub use selected::CpuWeightStack;
use simd::Simd;
pub use tensor::{CpuTensor, CpuWeight};

/// Operations estimated to cost less than this (in multiply-adds or elements touched) run on the
/// calling thread: handing them to the pool would cost more than it saves.
const PARALLEL_WORK: usize = 1 << 15;

/// The CPU backend.
#[derive(Debug)]
pub struct CpuBackend {
    pool: rayon::ThreadPool,
    threads: usize,
    simd: Simd,
}

impl CpuBackend {
    /// A backend running on `threads` threads (`None`: one per available core) of a thread pool
    /// of its own.
    pub fn new(threads: Option<usize>) -> Result<Self, ComputeError> {
        let threads = match threads {
            Some(0) => {
                return Err(ComputeError::Argument {
                    op: "CpuBackend::new",
                    message: "threads = 0: the CPU backend needs at least one thread".into(),
                })
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("floe-cpu-{i}"))
            .build()
            .map_err(|e| {
                ComputeError::Device(format!("cannot start {threads} CPU backend threads: {e}"))
            })?;
        Ok(Self {
            pool,
            threads,
            simd: Simd::detect(),
        })
    }

    /// Threads the backend computes on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Whether work of this cost is worth handing to the pool.
    fn parallel(&self, cost: usize) -> bool {
        self.threads > 1 && cost >= PARALLEL_WORK
    }

    /// Runs `f` on the pool (so that rayon iterators inside use its threads).
    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// Calls `f(index, chunk)` for each `chunk_len`-element chunk of `out` (the last may be
    /// shorter), on the pool when the whole job costs at least [`PARALLEL_WORK`].
    fn for_each_chunk<F>(&self, out: &mut [f32], chunk_len: usize, cost: usize, f: F)
    where
        F: Fn(usize, &mut [f32]) + Send + Sync,
    {
        if self.parallel(cost) {
            self.install(|| {
                out.par_chunks_mut(chunk_len)
                    .enumerate()
                    .for_each(|(i, c)| f(i, c))
            });
        } else {
            out.chunks_mut(chunk_len)
                .enumerate()
                .for_each(|(i, c)| f(i, c));
        }
    }

    /// A new `[rows, cols]` tensor whose row chunks (`rows_per_chunk` rows each) are filled by
    /// `f(first_row, chunk)`.
    fn build_rows<F>(
        &self,
        rows: usize,
        cols: usize,
        rows_per_chunk: usize,
        cost: usize,
        f: F,
    ) -> CpuTensor
    where
        F: Fn(usize, &mut [f32]) + Send + Sync,
    {
        let mut data = vec![0.0f32; rows * cols];
        let chunk = rows_per_chunk.max(1);
        self.for_each_chunk(&mut data, chunk * cols, cost, |i, out| f(i * chunk, out));
        CpuTensor::new(rows, cols, data)
    }
}

impl Backend for CpuBackend {
    type Tensor = CpuTensor;
    type Weight = CpuWeight;
    type WeightStack = CpuWeightStack;

    fn name(&self) -> String {
        let threads = if self.threads == 1 {
            "thread"
        } else {
            "threads"
        };
        format!(
            "cpu ({}, {} {threads})",
            floe_quant::kernels::Isa::active().name(),
            self.threads
        )
    }

    fn upload(&self, data: &[f32], rows: usize, cols: usize) -> Result<CpuTensor, ComputeError> {
        check::upload(data.len(), rows, cols)?;
        Ok(CpuTensor::new(rows, cols, data.to_vec()))
    }

    fn zeros(&self, rows: usize, cols: usize) -> Result<CpuTensor, ComputeError> {
        let elements = check::tensor("zeros", rows, cols)?;
        Ok(CpuTensor::new(rows, cols, vec![0.0; elements]))
    }

    fn download(&self, t: &CpuTensor) -> Result<Vec<f32>, ComputeError> {
        Ok(t.data.clone())
    }

    fn shape(&self, t: &CpuTensor) -> [usize; 2] {
        t.shape()
    }

    fn reshape(&self, t: CpuTensor, rows: usize, cols: usize) -> Result<CpuTensor, ComputeError> {
        check::reshape(t.shape(), rows, cols)?;
        Ok(CpuTensor::new(rows, cols, t.data))
    }

    fn slice_cols(
        &self,
        x: &CpuTensor,
        start: usize,
        len: usize,
    ) -> Result<CpuTensor, ComputeError> {
        check::slice_cols(x.shape(), start, len)?;
        Ok(rows::slice_cols(self, x, start, len))
    }

    fn weight(&self, data: WeightData) -> Result<CpuWeight, ComputeError> {
        check::weight(&data)?;
        Ok(CpuWeight {
            format: data.format,
            rows: data.rows,
            cols: data.cols,
            bytes: data.bytes,
        })
    }

    fn weight_shape(&self, w: &CpuWeight) -> [usize; 2] {
        w.shape()
    }

    fn weight_stack(&self, parts: Vec<WeightData>) -> Result<CpuWeightStack, ComputeError> {
        check::weight_stack(&parts)?;
        let entries = parts
            .into_iter()
            .map(|data| self.weight(data))
            .collect::<Result<_, _>>()?;
        Ok(CpuWeightStack { entries })
    }

    fn weight_stack_shape(&self, s: &CpuWeightStack) -> [usize; 3] {
        s.shape()
    }

    fn route_topk(
        &self,
        logits: &CpuTensor,
        k: usize,
        renormalize: bool,
    ) -> Result<CpuTensor, ComputeError> {
        check::softmax_topk(logits.shape(), k)?;
        Ok(selected::route_topk(logits, k, renormalize))
    }

    fn matmul_selected(
        &self,
        x: &CpuTensor,
        stack: &CpuWeightStack,
        routes: &CpuTensor,
    ) -> Result<CpuTensor, ComputeError> {
        check::matmul_selected(x.shape(), stack.shape(), routes.shape())?;
        selected::matmul_selected(self, x, stack, routes)
    }

    fn combine_selected(
        &self,
        y: &CpuTensor,
        routes: &CpuTensor,
    ) -> Result<CpuTensor, ComputeError> {
        check::combine_selected(y.shape(), routes.shape())?;
        Ok(selected::combine_selected(y, routes))
    }

    fn embed(&self, table: &CpuWeight, ids: &[u32]) -> Result<CpuTensor, ComputeError> {
        check::embed(table.shape(), ids)?;
        Ok(rows::embed(self, table, ids))
    }

    fn matmul(&self, x: &CpuTensor, w: &CpuWeight) -> Result<CpuTensor, ComputeError> {
        check::matmul(x.shape(), w.shape())?;
        Ok(matmul::matmul(self, x, w))
    }

    fn rms_norm(
        &self,
        x: &CpuTensor,
        w: &CpuWeight,
        eps: f32,
        weight_offset: f32,
    ) -> Result<CpuTensor, ComputeError> {
        check::rms_norm(x.shape(), w.shape(), eps, weight_offset)?;
        Ok(norm::rms_norm(self, x, w, eps, weight_offset))
    }

    fn rope(
        &self,
        x: &CpuTensor,
        positions: &[u32],
        spec: &RopeSpec,
    ) -> Result<CpuTensor, ComputeError> {
        check::rope(x.shape(), positions.len(), spec)?;
        Ok(rope::rope(self, x, positions, spec))
    }

    fn write_rows(
        &self,
        dst: &mut CpuTensor,
        at_row: usize,
        src: &CpuTensor,
    ) -> Result<(), ComputeError> {
        check::write_rows(dst.shape(), at_row, src.shape())?;
        let start = at_row * dst.cols;
        dst.data[start..start + src.data.len()].copy_from_slice(&src.data);
        Ok(())
    }

    fn attention(
        &self,
        q: &CpuTensor,
        k: &CpuTensor,
        v: &CpuTensor,
        spec: &AttentionSpec,
    ) -> Result<CpuTensor, ComputeError> {
        check::attention(q.shape(), k.shape(), v.shape(), spec)?;
        Ok(attention::attention(self, q, k, v, spec))
    }

    fn swiglu(&self, gate: &CpuTensor, up: &CpuTensor) -> Result<CpuTensor, ComputeError> {
        check::same_shape("swiglu", gate.shape(), up.shape())?;
        Ok(elementwise::swiglu(self, gate, up))
    }

    fn activation(&self, x: &CpuTensor, f: Activation) -> Result<CpuTensor, ComputeError> {
        Ok(elementwise::activation(self, x, f))
    }

    fn add(&self, a: &CpuTensor, b: &CpuTensor) -> Result<CpuTensor, ComputeError> {
        check::same_shape("add", a.shape(), b.shape())?;
        Ok(elementwise::add(self, a, b))
    }

    fn mul(&self, a: &CpuTensor, b: &CpuTensor) -> Result<CpuTensor, ComputeError> {
        check::mul(a.shape(), b.shape())?;
        Ok(elementwise::mul(self, a, b))
    }

    fn softmax_topk(
        &self,
        logits: &CpuTensor,
        k: usize,
        renormalize: bool,
    ) -> Result<Vec<Routing>, ComputeError> {
        check::softmax_topk(logits.shape(), k)?;
        Ok(router::softmax_topk(logits, k, renormalize))
    }

    fn gather_rows(&self, x: &CpuTensor, rows: &[u32]) -> Result<CpuTensor, ComputeError> {
        check::gather_rows(x.shape(), rows)?;
        Ok(rows::gather_rows(self, x, rows))
    }

    fn scatter_add_rows(
        &self,
        acc: &mut CpuTensor,
        src: &CpuTensor,
        rows: &[u32],
        weights: &[f32],
    ) -> Result<(), ComputeError> {
        check::scatter_add_rows(acc.shape(), src.shape(), rows, weights.len())?;
        rows::scatter_add_rows(self, acc, src, rows, weights);
        Ok(())
    }

    fn causal_conv1d(
        &self,
        x: &CpuTensor,
        weight: &CpuWeight,
        state: &mut CpuTensor,
        activation: Option<Activation>,
    ) -> Result<CpuTensor, ComputeError> {
        check::causal_conv1d(x.shape(), weight.shape(), state.shape())?;
        Ok(recurrent::causal_conv1d(self, x, weight, state, activation))
    }

    fn gated_delta_rule(
        &self,
        qkv: &CpuTensor,
        gates: &CpuTensor,
        a_log: &CpuTensor,
        dt_bias: &CpuTensor,
        state: &mut CpuTensor,
        spec: &DeltaRuleSpec,
    ) -> Result<CpuTensor, ComputeError> {
        check::gated_delta_rule(
            qkv.shape(),
            gates.shape(),
            a_log.shape(),
            dt_bias.shape(),
            state.shape(),
            spec,
        )?;
        Ok(recurrent::gated_delta_rule(
            self, qkv, gates, a_log, dt_bias, state, spec,
        ))
    }
}

#[cfg(test)]
mod tests;
