//! A shared reference to a [`WgpuBackend`] is a [`Backend`] too, so several owners (threads,
//! test cases) can use one device and its compiled kernels.

use floe_compute::{
    Activation, AttentionSpec, Backend, ComputeError, DeltaRuleSpec, ExpertWeightKey, RopeSpec,
    Routing, WeightData,
};

use crate::{WgpuBackend, WgpuTensor, WgpuWeight};

impl Backend for &WgpuBackend {
    type Tensor = WgpuTensor;
    type Weight = WgpuWeight;

    fn name(&self) -> String {
        (**self).name()
    }
    fn upload(&self, data: &[f32], rows: usize, cols: usize) -> Result<WgpuTensor, ComputeError> {
        (**self).upload(data, rows, cols)
    }
    fn zeros(&self, rows: usize, cols: usize) -> Result<WgpuTensor, ComputeError> {
        (**self).zeros(rows, cols)
    }
    fn download(&self, t: &WgpuTensor) -> Result<Vec<f32>, ComputeError> {
        (**self).download(t)
    }
    fn shape(&self, t: &WgpuTensor) -> [usize; 2] {
        (**self).shape(t)
    }
    fn reshape(&self, t: WgpuTensor, rows: usize, cols: usize) -> Result<WgpuTensor, ComputeError> {
        (**self).reshape(t, rows, cols)
    }
    fn slice_cols(
        &self,
        x: &WgpuTensor,
        start: usize,
        len: usize,
    ) -> Result<WgpuTensor, ComputeError> {
        (**self).slice_cols(x, start, len)
    }
    fn weight(&self, data: WeightData) -> Result<WgpuWeight, ComputeError> {
        (**self).weight(data)
    }
    fn expert_weight(
        &self,
        key: ExpertWeightKey,
        data: WeightData,
    ) -> Result<WgpuWeight, ComputeError> {
        (**self).expert_weight(key, data)
    }
    fn weight_shape(&self, w: &WgpuWeight) -> [usize; 2] {
        (**self).weight_shape(w)
    }
    fn embed(&self, table: &WgpuWeight, ids: &[u32]) -> Result<WgpuTensor, ComputeError> {
        (**self).embed(table, ids)
    }
    fn matmul(&self, x: &WgpuTensor, w: &WgpuWeight) -> Result<WgpuTensor, ComputeError> {
        (**self).matmul(x, w)
    }
    fn rms_norm(
        &self,
        x: &WgpuTensor,
        w: &WgpuWeight,
        eps: f32,
        weight_offset: f32,
    ) -> Result<WgpuTensor, ComputeError> {
        (**self).rms_norm(x, w, eps, weight_offset)
    }
    fn rope(
        &self,
        x: &WgpuTensor,
        positions: &[u32],
        spec: &RopeSpec,
    ) -> Result<WgpuTensor, ComputeError> {
        (**self).rope(x, positions, spec)
    }
    fn write_rows(
        &self,
        dst: &mut WgpuTensor,
        at_row: usize,
        src: &WgpuTensor,
    ) -> Result<(), ComputeError> {
        (**self).write_rows(dst, at_row, src)
    }
    fn attention(
        &self,
        q: &WgpuTensor,
        k: &WgpuTensor,
        v: &WgpuTensor,
        spec: &AttentionSpec,
    ) -> Result<WgpuTensor, ComputeError> {
        (**self).attention(q, k, v, spec)
    }
    fn swiglu(&self, gate: &WgpuTensor, up: &WgpuTensor) -> Result<WgpuTensor, ComputeError> {
        (**self).swiglu(gate, up)
    }
    fn activation(&self, x: &WgpuTensor, f: Activation) -> Result<WgpuTensor, ComputeError> {
        (**self).activation(x, f)
    }
    fn add(&self, a: &WgpuTensor, b: &WgpuTensor) -> Result<WgpuTensor, ComputeError> {
        (**self).add(a, b)
    }
    fn mul(&self, a: &WgpuTensor, b: &WgpuTensor) -> Result<WgpuTensor, ComputeError> {
        (**self).mul(a, b)
    }
    fn softmax_topk(
        &self,
        logits: &WgpuTensor,
        k: usize,
        renormalize: bool,
    ) -> Result<Vec<Routing>, ComputeError> {
        (**self).softmax_topk(logits, k, renormalize)
    }
    fn gather_rows(&self, x: &WgpuTensor, rows: &[u32]) -> Result<WgpuTensor, ComputeError> {
        (**self).gather_rows(x, rows)
    }
    fn scatter_add_rows(
        &self,
        acc: &mut WgpuTensor,
        src: &WgpuTensor,
        rows: &[u32],
        weights: &[f32],
    ) -> Result<(), ComputeError> {
        (**self).scatter_add_rows(acc, src, rows, weights)
    }
    fn causal_conv1d(
        &self,
        x: &WgpuTensor,
        weight: &WgpuWeight,
        state: &mut WgpuTensor,
        activation: Option<Activation>,
    ) -> Result<WgpuTensor, ComputeError> {
        (**self).causal_conv1d(x, weight, state, activation)
    }
    fn gated_delta_rule(
        &self,
        qkv: &WgpuTensor,
        gates: &WgpuTensor,
        a_log: &WgpuTensor,
        dt_bias: &WgpuTensor,
        state: &mut WgpuTensor,
        spec: &DeltaRuleSpec,
    ) -> Result<WgpuTensor, ComputeError> {
        (**self).gated_delta_rule(qkv, gates, a_log, dt_bias, state, spec)
    }
}
