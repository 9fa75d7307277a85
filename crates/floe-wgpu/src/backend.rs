//! [`WgpuBackend`]: construction, the helpers every operation uses, and the [`Backend`] impl.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use floe_compute::{
    check, Activation, AttentionSpec, Backend, ComputeError, DeltaRuleSpec, ExpertCacheStats,
    ExpertWeightKey, QkvPrologue, RopeSpec, Routing, WeightData,
};

use crate::adapter::{self, AdapterSummary};
use crate::context::Gpu;
use crate::expert_cache::GpuExpertCache;
use crate::ops::HeadNorm;
use crate::pipelines::{KernelKey, PipelineCache};
use crate::pool::BufferPool;
use crate::recorder::{Bind, Recorder};
use crate::stack::{self, WgpuWeightStack};
use crate::staging::StagingRing;
use crate::tensor::{WgpuTensor, WgpuWeight};
use crate::{weights, CodeDecode, MatvecTuning, WgpuOptions};

/// The wgpu backend: every [`Backend`] operation as a WGSL compute kernel on one adapter.
///
/// Operations are recorded into one command encoder and submitted only when the CPU needs a
/// result ([`Backend::download`], [`Backend::softmax_topk`]) or after
/// [`WgpuOptions::max_pending_dispatches`] dispatches. Weights are uploaded byte for byte as
/// floe-quant stores them and dequantized inside the kernels.
pub struct WgpuBackend {
    pub(crate) gpu: Arc<Gpu>,
    pub(crate) recorder: Recorder,
    pub(crate) pool: Arc<BufferPool>,
    /// The mapped staging buffers weights are uploaded through.
    pub(crate) staging: StagingRing,
    /// Routed-expert weights kept resident (absent when its budget is 0).
    experts: Option<GpuExpertCache>,
    pub(crate) pipelines: PipelineCache,
    /// The matrix-vector kernel choice (decode, fixed shape), changeable at run time.
    pub(crate) matvec: Mutex<(CodeDecode, Option<MatvecTuning>)>,
    /// Whether the one-token products over 4-bit affine and Q8_0 weights use int8 x
    /// ([`WgpuOptions::int8_activations`]), changeable at run time.
    pub(crate) int8_activations: AtomicBool,
    /// The last few int8 quantizations of an x, each reused while its x is unchanged.
    pub(crate) kept_int8_x: crate::ops::KeptInt8,
    /// The x code order the last int8 product read (`ops::NO_ORDER` before the first), which
    /// producer kernels write.
    pub(crate) int8_order: std::sync::atomic::AtomicU32,
}

/// The widest head `head_norm_rope.wgsl` holds in workgroup memory (16 KiB, WebGPU's minimum).
const MAX_FUSED_HEAD_DIM: usize = 4096;

/// Kernel parameters: 16 words, the layout every kernel's `prm` binding has.
pub(crate) fn params(values: &[u32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (i, v) in values.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    out
}

/// A usize that a kernel indexes with as u32, or an error naming what is too large.
pub(crate) fn u32_of(op: &'static str, what: &str, v: usize) -> Result<u32, ComputeError> {
    u32::try_from(v).map_err(|_| {
        ComputeError::Unsupported(format!(
            "{op}: {what} = {v} exceeds the u32 range of GPU indices"
        ))
    })
}

impl WgpuBackend {
    /// Opens the adapter `options` choose (see [`crate::AdapterChoice`]) with its full limits
    /// and the optional features it has (`SUBGROUP`, `SHADER_F16`, `TIMESTAMP_QUERY`).
    /// Fails with [`ComputeError::Device`] naming what was found when no adapter fits.
    pub fn new(options: WgpuOptions) -> Result<Self, ComputeError> {
        let gpu = Arc::new(Gpu::open(&options)?);
        let pool = BufferPool::new(gpu.device.clone(), options.pool_bytes);
        let pipelines = PipelineCache::new(gpu.device.clone(), gpu.caps.subgroups);
        if options.profile_kernels
            && !gpu
                .device
                .features()
                .contains(wgpu::Features::TIMESTAMP_QUERY)
        {
            return Err(ComputeError::Unsupported(format!(
                "profiling kernels needs timestamp queries, which {} does not offer",
                gpu.info.name
            )));
        }
        let recorder = Recorder::new(
            gpu.clone(),
            options.max_pending_dispatches,
            options.streamed_pending_dispatches,
            options.profile_kernels,
        );
        let staging = StagingRing::new(
            gpu.clone(),
            options.staging_buffers,
            options.staging_buffer_bytes,
        )?;
        let experts = (options.expert_cache_bytes > 0)
            .then(|| GpuExpertCache::new(options.expert_cache_bytes, options.expert_cache_policy));
        let matvec = Mutex::new((options.code_decode, options.matvec_tuning));
        let int8_activations = AtomicBool::new(options.int8_activations);
        Ok(Self {
            gpu,
            recorder,
            pool,
            staging,
            experts,
            pipelines,
            matvec,
            int8_activations,
            kept_int8_x: Default::default(),
            int8_order: crate::ops::NO_ORDER.into(),
        })
    }

    /// Every adapter wgpu finds on this machine, hardware first (for `--backend` help and
    /// error messages). Never fails: no driver means an empty list.
    pub fn list_adapters() -> Vec<AdapterSummary> {
        let instance = adapter::instance();
        adapter::enumerate(&instance)
            .iter()
            .enumerate()
            .map(|(i, a)| adapter::summary(i, a))
            .collect()
    }

    /// The adapter in use.
    pub fn adapter(&self) -> AdapterSummary {
        let info = &self.gpu.info;
        AdapterSummary {
            index: 0,
            name: info.name.clone(),
            api: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            software: adapter::is_software(info),
        }
    }

    /// Whether kernels reduce with subgroup operations (the adapter has `Features::SUBGROUP`
    /// and [`WgpuOptions::use_subgroups`] is set).
    pub fn uses_subgroups(&self) -> bool {
        self.gpu.caps.subgroups
    }

    /// The largest storage binding (bytes): larger weights are split into row ranges, larger
    /// activations are refused.
    pub fn max_binding_bytes(&self) -> u64 {
        self.gpu.caps.max_binding
    }

    /// The optional features the device was opened with (of `SUBGROUP`, `SHADER_F16`,
    /// `TIMESTAMP_QUERY`).
    pub fn features(&self) -> wgpu::Features {
        self.gpu.features
    }

    /// The wgpu device (for callers that manage their own buffers, e.g. benchmarks).
    pub fn device(&self) -> &wgpu::Device {
        &self.gpu.device
    }

    /// The wgpu queue of [`WgpuBackend::device`].
    pub fn queue(&self) -> &wgpu::Queue {
        &self.gpu.queue
    }

    /// Changes how the matrix-vector kernels decode codes and their workgroup shape (`None`:
    /// the built-in choice) for operations recorded from now on; for tuning and benchmarks.
    pub fn set_matvec_kernel(&self, decode: CodeDecode, tuning: Option<MatvecTuning>) {
        *self.matvec.lock().unwrap_or_else(|e| e.into_inner()) = (decode, tuning);
    }

    /// Turns int8 activations ([`WgpuOptions::int8_activations`]) on or off for operations
    /// recorded from now on; for benchmarks.
    pub fn set_int8_activations(&self, on: bool) {
        self.int8_activations.store(on, Ordering::Relaxed);
    }

    /// GPU time per kernel since the backend started, most first, when it was created with
    /// [`WgpuOptions::profile_kernels`] (else `None`). Submits and waits for recorded work.
    pub fn kernel_profile(&self) -> Result<Option<Vec<crate::KernelTime>>, ComputeError> {
        self.recorder.profile()
    }

    /// Recorded dispatches after which work is submitted now:
    /// [`WgpuOptions::max_pending_dispatches`], or
    /// [`WgpuOptions::streamed_pending_dispatches`] once an expert has streamed in through
    /// `expert_weight`.
    pub fn pending_dispatch_limit(&self) -> usize {
        self.recorder.dispatch_limit()
    }

    /// Submits all recorded work without waiting for it.
    pub fn submit(&self) -> Result<(), ComputeError> {
        self.recorder.submit()
    }

    /// Submits all recorded work and waits until the device has finished it.
    pub fn finish(&self) -> Result<(), ComputeError> {
        self.recorder.submit()?;
        self.gpu.wait()
    }

    /// A new `[rows, cols]` tensor with undefined contents.
    pub(crate) fn alloc(
        &self,
        op: &'static str,
        rows: usize,
        cols: usize,
    ) -> Result<WgpuTensor, ComputeError> {
        let elements = check::tensor(op, rows, cols)?;
        let bytes = (elements as u64).saturating_mul(4);
        if bytes > self.gpu.caps.max_binding {
            return Err(ComputeError::Unsupported(format!(
                "{op}: a [{rows}, {cols}] f32 tensor takes {bytes} bytes, more than the {}-byte storage binding limit of {}",
                self.gpu.caps.max_binding, self.gpu.info.name
            )));
        }
        let buffer = self.pool.take(bytes);
        self.gpu.check()?;
        Ok(WgpuTensor {
            buffer,
            rows,
            cols,
            version: crate::tensor::next_version(),
        })
    }

    /// Workgroup counts for `n` workgroups, split over x and y when x alone cannot hold them.
    pub(crate) fn groups(&self, op: &'static str, n: usize) -> Result<[u32; 3], ComputeError> {
        let max = self.gpu.caps.max_groups as usize;
        if n <= max {
            return Ok([n.max(1) as u32, 1, 1]);
        }
        let y = n.div_ceil(max);
        if y > max {
            return Err(ComputeError::Unsupported(format!(
                "{op}: {n} workgroups exceed the device's dispatch limits"
            )));
        }
        Ok([max as u32, y as u32, 1])
    }

    /// Records kernel `key` over `workgroups` workgroups.
    pub(crate) fn run(
        &self,
        op: &'static str,
        key: KernelKey,
        binds: &[Bind<'_>],
        workgroups: usize,
    ) -> Result<(), ComputeError> {
        let kernel = self.pipelines.get(&key)?;
        let groups = self.groups(op, workgroups)?;
        self.recorder.dispatch(&kernel, binds, groups)
    }

    /// Threads per workgroup of a reducing kernel over rows of `cols` values.
    pub(crate) fn reduce_threads(cols: usize) -> u32 {
        (cols.next_power_of_two() as u32).clamp(32, 256)
    }
}

impl Backend for WgpuBackend {
    type Tensor = WgpuTensor;
    type Weight = WgpuWeight;
    type WeightStack = WgpuWeightStack;

    fn name(&self) -> String {
        let info = &self.gpu.info;
        let reductions = if self.gpu.caps.subgroups {
            "subgroups"
        } else {
            "workgroup memory"
        };
        format!("wgpu ({}, {:?}, {reductions})", info.name, info.backend)
    }

    fn upload(&self, data: &[f32], rows: usize, cols: usize) -> Result<WgpuTensor, ComputeError> {
        check::upload(data.len(), rows, cols)?;
        let t = self.alloc("upload", rows, cols)?;
        self.recorder.write(t.buf(), bytemuck::cast_slice(data))?;
        Ok(t)
    }

    fn zeros(&self, rows: usize, cols: usize) -> Result<WgpuTensor, ComputeError> {
        let t = self.alloc("zeros", rows, cols)?;
        self.recorder.clear(t.buf(), t.bytes())?;
        Ok(t)
    }

    fn download(&self, t: &WgpuTensor) -> Result<Vec<f32>, ComputeError> {
        let bytes = self.recorder.read(t.buf(), t.bytes())?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    fn shape(&self, t: &WgpuTensor) -> [usize; 2] {
        t.shape()
    }

    fn reshape(&self, t: WgpuTensor, rows: usize, cols: usize) -> Result<WgpuTensor, ComputeError> {
        check::reshape(t.shape(), rows, cols)?;
        Ok(WgpuTensor {
            buffer: t.buffer,
            rows,
            cols,
            version: t.version,
        })
    }

    fn slice_cols(
        &self,
        x: &WgpuTensor,
        start: usize,
        len: usize,
    ) -> Result<WgpuTensor, ComputeError> {
        let [rows, cols] = check::slice_cols(x.shape(), start, len)?;
        self.op_slice_cols(x, rows, cols, start)
    }

    fn weight(&self, data: WeightData) -> Result<WgpuWeight, ComputeError> {
        weights::upload(&self.gpu, &self.staging, data)
    }

    fn expert_weight(
        &self,
        key: ExpertWeightKey,
        data: WeightData,
    ) -> Result<WgpuWeight, ComputeError> {
        self.recorder.experts_stream();
        match &self.experts {
            Some(cache) => cache.get_or_upload(key, data, |data| self.weight(data)),
            None => self.weight(data),
        }
    }

    fn weight_shape(&self, w: &WgpuWeight) -> [usize; 2] {
        [w.rows, w.cols]
    }

    /// The expert cache's counters, or `None` when [`WgpuOptions::expert_cache_bytes`] is 0.
    fn expert_cache_stats(&self) -> Option<ExpertCacheStats> {
        self.experts.as_ref().map(GpuExpertCache::stats)
    }

    fn weight_stack(&self, parts: Vec<WeightData>) -> Result<WgpuWeightStack, ComputeError> {
        stack::upload(&self.gpu, &self.staging, parts)
    }

    fn weight_stack_shape(&self, s: &WgpuWeightStack) -> [usize; 3] {
        [s.entries, s.rows, s.cols]
    }

    fn route_topk(
        &self,
        logits: &WgpuTensor,
        k: usize,
        renormalize: bool,
    ) -> Result<WgpuTensor, ComputeError> {
        check::softmax_topk(logits.shape(), k)?;
        self.op_route_topk(logits, k, renormalize)
    }

    fn matmul_selected(
        &self,
        x: &WgpuTensor,
        stack: &WgpuWeightStack,
        routes: &WgpuTensor,
    ) -> Result<WgpuTensor, ComputeError> {
        check::matmul_selected(
            x.shape(),
            [stack.entries, stack.rows, stack.cols],
            routes.shape(),
        )?;
        self.op_matmul_selected(x, stack, routes)
    }

    fn combine_selected(
        &self,
        y: &WgpuTensor,
        routes: &WgpuTensor,
    ) -> Result<WgpuTensor, ComputeError> {
        check::combine_selected(y.shape(), routes.shape())?;
        self.op_combine_selected(y, routes)
    }

    fn embed(&self, table: &WgpuWeight, ids: &[u32]) -> Result<WgpuTensor, ComputeError> {
        check::embed([table.rows, table.cols], ids)?;
        self.op_embed(table, ids)
    }

    fn matmul(&self, x: &WgpuTensor, w: &WgpuWeight) -> Result<WgpuTensor, ComputeError> {
        check::matmul(x.shape(), [w.rows, w.cols])?;
        self.op_matmul(x, w)
    }

    fn rms_norm(
        &self,
        x: &WgpuTensor,
        w: &WgpuWeight,
        eps: f32,
        weight_offset: f32,
    ) -> Result<WgpuTensor, ComputeError> {
        check::rms_norm(x.shape(), [w.rows, w.cols], eps, weight_offset)?;
        self.op_rms_norm(x, w, eps, weight_offset)
    }

    fn add_rms_norm(
        &self,
        x: &WgpuTensor,
        delta: &WgpuTensor,
        w: &WgpuWeight,
        eps: f32,
        weight_offset: f32,
    ) -> Result<(WgpuTensor, WgpuTensor), ComputeError> {
        check::add_rms_norm(
            x.shape(),
            delta.shape(),
            [w.rows, w.cols],
            eps,
            weight_offset,
        )?;
        self.op_add_rms_norm(x, delta, w, eps, weight_offset)
    }

    fn head_norm_rope(
        &self,
        x: WgpuTensor,
        w: &WgpuWeight,
        eps: f32,
        weight_offset: f32,
        positions: &[u32],
        spec: &RopeSpec,
    ) -> Result<WgpuTensor, ComputeError> {
        if spec.head_dim > MAX_FUSED_HEAD_DIM {
            // The head does not fit the kernel's workgroup memory: the two operations.
            let parts = floe_compute::head_norm_rope_in_parts;
            return parts(self, x, w, eps, weight_offset, positions, spec);
        }
        check::head_norm_rope(
            x.shape(),
            [w.rows, w.cols],
            eps,
            weight_offset,
            positions.len(),
            spec,
        )?;
        let norm = HeadNorm {
            weight: w,
            eps,
            offset: weight_offset,
            positions,
            rope: spec,
        };
        self.op_head_norm_rope(&x, &norm)
    }

    fn qkv_prologue(
        &self,
        qkv: &WgpuTensor,
        p: &QkvPrologue<'_, WgpuWeight>,
        k_cache: &mut WgpuTensor,
        v_cache: &mut WgpuTensor,
    ) -> Result<WgpuTensor, ComputeError> {
        let Some((q_norm, k_norm)) = p.norms.filter(|_| p.rope.head_dim <= MAX_FUSED_HEAD_DIM)
        else {
            return floe_compute::qkv_prologue_in_parts(self, qkv, p, k_cache, v_cache);
        };
        check::qkv_prologue(
            qkv.shape(),
            Some([[q_norm.rows, q_norm.cols], [k_norm.rows, k_norm.cols]]),
            p,
            k_cache.shape(),
            v_cache.shape(),
        )?;
        self.op_qkv_prologue(qkv, p, (q_norm, k_norm), k_cache, v_cache)
    }

    fn rope(
        &self,
        x: &WgpuTensor,
        positions: &[u32],
        spec: &RopeSpec,
    ) -> Result<WgpuTensor, ComputeError> {
        check::rope(x.shape(), positions.len(), spec)?;
        self.op_rope(x, positions, spec)
    }

    fn write_rows(
        &self,
        dst: &mut WgpuTensor,
        at_row: usize,
        src: &WgpuTensor,
    ) -> Result<(), ComputeError> {
        check::write_rows(dst.shape(), at_row, src.shape())?;
        self.op_write_rows(dst, at_row, src)
    }

    fn attention(
        &self,
        q: &WgpuTensor,
        k: &WgpuTensor,
        v: &WgpuTensor,
        spec: &AttentionSpec,
    ) -> Result<WgpuTensor, ComputeError> {
        check::attention(q.shape(), k.shape(), v.shape(), spec)?;
        self.op_attention(q, k, v, spec)
    }

    fn swiglu(&self, gate: &WgpuTensor, up: &WgpuTensor) -> Result<WgpuTensor, ComputeError> {
        check::same_shape("swiglu", gate.shape(), up.shape())?;
        self.op_swiglu(gate, up)
    }

    fn prefers_stacked_projections(&self) -> bool {
        true
    }

    fn swiglu_packed(&self, x: &WgpuTensor) -> Result<WgpuTensor, ComputeError> {
        check::swiglu_packed(x.shape())?;
        self.op_swiglu_packed(x)
    }

    fn activation(&self, x: &WgpuTensor, f: Activation) -> Result<WgpuTensor, ComputeError> {
        let op = match f {
            Activation::Silu => 4,
            Activation::Sigmoid => 5,
        };
        self.op_elementwise("activation", op, x, x)
    }

    fn add(&self, a: &WgpuTensor, b: &WgpuTensor) -> Result<WgpuTensor, ComputeError> {
        check::same_shape("add", a.shape(), b.shape())?;
        self.op_elementwise("add", 0, a, b)
    }

    fn mul(&self, a: &WgpuTensor, b: &WgpuTensor) -> Result<WgpuTensor, ComputeError> {
        check::mul(a.shape(), b.shape())?;
        let op = if b.shape() == a.shape() { 1 } else { 2 };
        self.op_elementwise("mul", op, a, b)
    }

    fn softmax_topk(
        &self,
        logits: &WgpuTensor,
        k: usize,
        renormalize: bool,
    ) -> Result<Vec<Routing>, ComputeError> {
        check::softmax_topk(logits.shape(), k)?;
        self.op_softmax_topk(logits, k, renormalize)
    }

    fn softmax_topk_many(
        &self,
        requests: &[(&WgpuTensor, usize, bool)],
    ) -> Result<Vec<Vec<Routing>>, ComputeError> {
        for &(logits, k, _) in requests {
            check::softmax_topk(logits.shape(), k)?;
        }
        self.op_softmax_topk_many(requests)
    }

    fn gather_rows(&self, x: &WgpuTensor, rows: &[u32]) -> Result<WgpuTensor, ComputeError> {
        check::gather_rows(x.shape(), rows)?;
        self.op_gather_rows(x, rows)
    }

    fn scatter_add_rows(
        &self,
        acc: &mut WgpuTensor,
        src: &WgpuTensor,
        rows: &[u32],
        weights: &[f32],
    ) -> Result<(), ComputeError> {
        check::scatter_add_rows(acc.shape(), src.shape(), rows, weights.len())?;
        self.op_scatter_add_rows(acc, src, rows, weights)
    }

    fn causal_conv1d(
        &self,
        x: &WgpuTensor,
        weight: &WgpuWeight,
        state: &mut WgpuTensor,
        activation: Option<Activation>,
    ) -> Result<WgpuTensor, ComputeError> {
        check::causal_conv1d(x.shape(), [weight.rows, weight.cols], state.shape())?;
        self.op_causal_conv1d(x, weight, state, activation)
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
        check::gated_delta_rule(
            qkv.shape(),
            gates.shape(),
            a_log.shape(),
            dt_bias.shape(),
            state.shape(),
            spec,
        )?;
        self.op_gated_delta_rule(qkv, gates, a_log, dt_bias, state, spec)
    }
}
