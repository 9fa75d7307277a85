//! How a [`crate::WgpuBackend`] picks its adapter and which kernel paths it uses.

use floe_stream::cache::PolicyKind;

/// Which adapter (GPU) a [`crate::WgpuBackend`] runs on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AdapterChoice {
    /// The best hardware adapter: a discrete GPU, else an integrated one, else a virtual one.
    /// Software rasterizers (lavapipe/llvmpipe, SwiftShader, WARP) are only taken when
    /// [`WgpuOptions::allow_software`] is set, and then only if no hardware adapter exists.
    #[default]
    Auto,
    /// The first adapter whose name contains this text (case-insensitive), software or not:
    /// naming an adapter is asking for it.
    Name(String),
    /// The adapter at this position of [`crate::WgpuBackend::list_adapters`].
    Index(usize),
}

/// How the quantized matrix-vector kernels turn packed integer codes into f32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CodeDecode {
    /// The fastest decoding per format on an H200 (`gpu_bench --tune`, docs/performance.md):
    /// [`Self::Convert`] for 8-bit affine and Q8_0 codes (a byte converts in one instruction),
    /// [`Self::Mantissa`] for 4- and 2-bit ones.
    #[default]
    Auto,
    /// Places each code in the mantissa of `1.0` (`1 + q/2^bits`, a shift, a mask and an OR)
    /// and removes the offset once per 32 values: no integer-to-float conversions, which run
    /// at a quarter rate on many GPUs.
    Mantissa,
    /// Converts each code with an integer-to-float conversion (the plain way; kept to compare).
    Convert,
    /// Places two codes at once in the mantissas of a pair of f16 `1.0`s and unpacks the pair
    /// to f32 (the one-token kernels of affine weights; others decode as [`Self::Mantissa`]).
    HalfPairs,
}

/// A fixed shape for the matrix-vector kernels, overriding the built-in choice (for tuning).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatvecTuning {
    /// Invocations per workgroup: a power of two from 32 to 256.
    pub threads: u32,
    /// Row slots per workgroup (each takes threads / rows invocations), 1 to `threads`.
    pub rows: u32,
    /// Consecutive output rows each invocation computes, reusing its x loads: 1, 2, 4 or 8.
    pub rows_per_invocation: u32,
}

/// Options of [`crate::WgpuBackend::new`].
#[derive(Clone, Debug)]
pub struct WgpuOptions {
    /// Which adapter to use.
    pub adapter: AdapterChoice,
    /// Lets [`AdapterChoice::Auto`] fall back to a software adapter (lavapipe) when there is no
    /// hardware one. Tests set it; users normally leave it off.
    pub allow_software: bool,
    /// Uses subgroup reductions when the adapter supports `Features::SUBGROUP`; `false` forces the
    /// workgroup-memory reductions every adapter supports (to test that path).
    pub use_subgroups: bool,
    /// How quantized codes are decoded in the matrix-vector kernels.
    pub code_decode: CodeDecode,
    /// Recorded dispatches after which pending work is submitted without waiting (work is
    /// otherwise submitted only when a result is read back). Small batches let the GPU start
    /// on a decode step while the CPU records the rest: on an H200, 64 decoded 2.3 times as
    /// fast as 2048 (docs/performance.md).
    pub max_pending_dispatches: usize,
    /// `max_pending_dispatches` from the first expert streamed in through
    /// [`floe_compute::Backend::expert_weight`] on (experts fetched per token and uploaded to
    /// the expert cache): a streamed layer's GPU work then starts while the CPU still fetches and
    /// records the rest of its experts. On an H200 16 decoded the `qwen3-30b-a3b` preset ~21%
    /// faster than 64 when streamed (docs/performance.md, run 24); resident decode keeps 64.
    pub streamed_pending_dispatches: usize,
    /// Time every kernel with GPU timestamps ([`crate::WgpuBackend::kernel_profile`]): each
    /// dispatch gets a compute pass of its own and every submit waits for its timestamps, so a
    /// profiled run is slower. Needs the adapter's `TIMESTAMP_QUERY` feature.
    pub profile_kernels: bool,
    /// Bytes of idle activation buffers kept for reuse; buffers beyond it are freed.
    pub pool_bytes: u64,
    /// A fixed workgroup shape for the matrix-vector kernels instead of the built-in choice
    /// (for tuning and benchmarks).
    pub matvec_tuning: Option<MatvecTuning>,
    /// Quantizes x to int8 per 32 values for the one-token products (up to 4 tokens, and
    /// every expert-indexed product) over 4-bit affine and Q8_0 weights, which then multiply
    /// codes by packed integer dot products (`dot4I8Packed`): fewer instructions per weight
    /// byte, at the cost of an error of at most max |x| / 254 of each block of 32 per x value
    /// (the bound the tests check). On by default, as llama.cpp's GPU backends quantize
    /// activations for quantized weights: q4 and q8_0 products then reach the memory ceiling,
    /// where f32 x spends 2–4 instructions per weight value and reaches about half of it.
    /// `false` keeps x in f32: results then match the CPU backend's f32 products (to 1e-5).
    pub int8_activations: bool,
    /// Caps the bytes of one weight chunk below the adapter's storage-binding limit (tests use
    /// it to exercise the splitting of large weights into row ranges on small ones).
    pub max_weight_chunk_bytes: Option<u64>,
    /// Staging buffers in the persistent ring that weights are uploaded through (at least 1).
    pub staging_buffers: usize,
    /// Bytes of each staging buffer (rounded up to 16); a larger weight goes through several.
    pub staging_buffer_bytes: u64,
    /// VRAM budget in bytes of the expert cache, which keeps routed-expert weights uploaded
    /// through [`floe_compute::Backend::expert_weight`] resident so they are not uploaded again;
    /// 0 (the default) turns it off. Only for a backend that runs one model (the cache trusts
    /// that one expert key always names the same bytes).
    pub expert_cache_bytes: u64,
    /// Which experts the expert cache evicts first (floe-stream's policies).
    pub expert_cache_policy: PolicyKind,
}

impl Default for WgpuOptions {
    fn default() -> Self {
        Self {
            adapter: AdapterChoice::Auto,
            allow_software: false,
            use_subgroups: true,
            code_decode: CodeDecode::Auto,
            max_pending_dispatches: 64,
            streamed_pending_dispatches: 16,
            profile_kernels: false,
            pool_bytes: 1 << 30,
            matvec_tuning: None,
            int8_activations: true,
            max_weight_chunk_bytes: None,
            staging_buffers: 4,
            staging_buffer_bytes: 16 << 20,
            expert_cache_bytes: 0,
            expert_cache_policy: PolicyKind::Lru,
        }
    }
}
