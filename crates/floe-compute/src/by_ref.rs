//! A shared reference to a backend is a backend too, so several owners (threads, test cases,
//! models) can use one device, its memory pools and its compiled kernels. Every method forwards.

use crate::{
    Activation, AttentionSpec, Backend, ComputeError, DeltaRuleSpec, ExpertCacheStats,
    ExpertWeightKey, QkvPrologue, RopeSpec, Routing, WeightData,
};

impl<B: Backend + ?Sized> Backend for &B {
    type Tensor = B::Tensor;
    type Weight = B::Weight;
    type WeightStack = B::WeightStack;

    fn name(&self) -> String {
        (**self).name()
    }
    fn upload(&self, data: &[f32], rows: usize, cols: usize) -> Result<B::Tensor, ComputeError> {
        (**self).upload(data, rows, cols)
    }
    fn zeros(&self, rows: usize, cols: usize) -> Result<B::Tensor, ComputeError> {
        (**self).zeros(rows, cols)
    }
    fn download(&self, t: &B::Tensor) -> Result<Vec<f32>, ComputeError> {
        (**self).download(t)
    }
    fn shape(&self, t: &B::Tensor) -> [usize; 2] {
        (**self).shape(t)
    }
    fn reshape(&self, t: B::Tensor, rows: usize, cols: usize) -> Result<B::Tensor, ComputeError> {
        (**self).reshape(t, rows, cols)
    }
    fn slice_cols(
        &self,
        x: &B::Tensor,
        start: usize,
        len: usize,
    ) -> Result<B::Tensor, ComputeError> {
        (**self).slice_cols(x, start, len)
    }
    fn weight(&self, data: WeightData) -> Result<B::Weight, ComputeError> {
        (**self).weight(data)
    }
    fn expert_weight(
        &self,
        key: ExpertWeightKey,
        data: WeightData,
    ) -> Result<B::Weight, ComputeError> {
        (**self).expert_weight(key, data)
    }
    fn weight_shape(&self, w: &B::Weight) -> [usize; 2] {
        (**self).weight_shape(w)
    }
    fn embed(&self, table: &B::Weight, ids: &[u32]) -> Result<B::Tensor, ComputeError> {
        (**self).embed(table, ids)
    }
    fn matmul(&self, x: &B::Tensor, w: &B::Weight) -> Result<B::Tensor, ComputeError> {
        (**self).matmul(x, w)
    }
    fn rms_norm(
        &self,
        x: &B::Tensor,
        w: &B::Weight,
        eps: f32,
        weight_offset: f32,
    ) -> Result<B::Tensor, ComputeError> {
        (**self).rms_norm(x, w, eps, weight_offset)
    }
    fn add_rms_norm(
        &self,
        x: &B::Tensor,
        delta: &B::Tensor,
        w: &B::Weight,
        eps: f32,
        weight_offset: f32,
    ) -> Result<(B::Tensor, B::Tensor), ComputeError> {
        (**self).add_rms_norm(x, delta, w, eps, weight_offset)
    }
    fn head_norm_rope(
        &self,
        x: B::Tensor,
        w: &B::Weight,
        eps: f32,
        weight_offset: f32,
        positions: &[u32],
        spec: &RopeSpec,
    ) -> Result<B::Tensor, ComputeError> {
        (**self).head_norm_rope(x, w, eps, weight_offset, positions, spec)
    }
    fn rope(
        &self,
        x: &B::Tensor,
        positions: &[u32],
        spec: &RopeSpec,
    ) -> Result<B::Tensor, ComputeError> {
        (**self).rope(x, positions, spec)
    }
    fn qkv_prologue(
        &self,
        qkv: &B::Tensor,
        p: &QkvPrologue<'_, B::Weight>,
        k_cache: &mut B::Tensor,
        v_cache: &mut B::Tensor,
    ) -> Result<B::Tensor, ComputeError> {
        (**self).qkv_prologue(qkv, p, k_cache, v_cache)
    }
    fn write_rows(
        &self,
        dst: &mut B::Tensor,
        at_row: usize,
        src: &B::Tensor,
    ) -> Result<(), ComputeError> {
        (**self).write_rows(dst, at_row, src)
    }
    fn attention(
        &self,
        q: &B::Tensor,
        k: &B::Tensor,
        v: &B::Tensor,
        spec: &AttentionSpec,
    ) -> Result<B::Tensor, ComputeError> {
        (**self).attention(q, k, v, spec)
    }
    fn swiglu(&self, gate: &B::Tensor, up: &B::Tensor) -> Result<B::Tensor, ComputeError> {
        (**self).swiglu(gate, up)
    }
    fn swiglu_packed(&self, x: &B::Tensor) -> Result<B::Tensor, ComputeError> {
        (**self).swiglu_packed(x)
    }
    fn activation(&self, x: &B::Tensor, f: Activation) -> Result<B::Tensor, ComputeError> {
        (**self).activation(x, f)
    }
    fn add(&self, a: &B::Tensor, b: &B::Tensor) -> Result<B::Tensor, ComputeError> {
        (**self).add(a, b)
    }
    fn mul(&self, a: &B::Tensor, b: &B::Tensor) -> Result<B::Tensor, ComputeError> {
        (**self).mul(a, b)
    }
    fn softmax_topk(
        &self,
        logits: &B::Tensor,
        k: usize,
        renormalize: bool,
    ) -> Result<Vec<Routing>, ComputeError> {
        (**self).softmax_topk(logits, k, renormalize)
    }
    fn softmax_topk_many(
        &self,
        requests: &[(&B::Tensor, usize, bool)],
    ) -> Result<Vec<Vec<Routing>>, ComputeError> {
        (**self).softmax_topk_many(requests)
    }
    fn gather_rows(&self, x: &B::Tensor, rows: &[u32]) -> Result<B::Tensor, ComputeError> {
        (**self).gather_rows(x, rows)
    }
    fn scatter_add_rows(
        &self,
        acc: &mut B::Tensor,
        src: &B::Tensor,
        rows: &[u32],
        weights: &[f32],
    ) -> Result<(), ComputeError> {
        (**self).scatter_add_rows(acc, src, rows, weights)
    }
    fn causal_conv1d(
        &self,
        x: &B::Tensor,
        weight: &B::Weight,
        state: &mut B::Tensor,
        activation: Option<Activation>,
    ) -> Result<B::Tensor, ComputeError> {
        (**self).causal_conv1d(x, weight, state, activation)
    }
    fn gated_delta_rule(
        &self,
        qkv: &B::Tensor,
        gates: &B::Tensor,
        a_log: &B::Tensor,
        dt_bias: &B::Tensor,
        state: &mut B::Tensor,
        spec: &DeltaRuleSpec,
    ) -> Result<B::Tensor, ComputeError> {
        (**self).gated_delta_rule(qkv, gates, a_log, dt_bias, state, spec)
    }
    fn prefers_stacked_projections(&self) -> bool {
        (**self).prefers_stacked_projections()
    }
    fn expert_cache_stats(&self) -> Option<ExpertCacheStats> {
        (**self).expert_cache_stats()
    }
    fn weight_stack(&self, parts: Vec<WeightData>) -> Result<B::WeightStack, ComputeError> {
        (**self).weight_stack(parts)
    }
    fn weight_stack_shape(&self, s: &B::WeightStack) -> [usize; 3] {
        (**self).weight_stack_shape(s)
    }
    fn route_topk(
        &self,
        logits: &B::Tensor,
        k: usize,
        renormalize: bool,
    ) -> Result<B::Tensor, ComputeError> {
        (**self).route_topk(logits, k, renormalize)
    }
    fn matmul_selected(
        &self,
        x: &B::Tensor,
        stack: &B::WeightStack,
        routes: &B::Tensor,
    ) -> Result<B::Tensor, ComputeError> {
        (**self).matmul_selected(x, stack, routes)
    }
    fn combine_selected(
        &self,
        y: &B::Tensor,
        routes: &B::Tensor,
    ) -> Result<B::Tensor, ComputeError> {
        (**self).combine_selected(y, routes)
    }
}
