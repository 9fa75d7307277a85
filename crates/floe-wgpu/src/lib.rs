//! floe's wgpu backend: every [`floe_compute::Backend`] operation as a WGSL compute kernel.
//!
//! * [`WgpuBackend::new`] opens an adapter chosen by [`WgpuOptions::adapter`] (by default the
//!   best hardware GPU; software adapters only when asked), with the adapter's full limits and
//!   the `SUBGROUP`, `SHADER_F16` and `TIMESTAMP_QUERY` features where present.
//!   [`WgpuBackend::list_adapters`] lists what wgpu finds.
//! * Weights are uploaded exactly as floe-quant stores them (MLX affine planes, Q8_0 blocks,
//!   f16/bf16/f32 rows) and decoded inside the kernels; a weight larger than one storage
//!   binding is split into row ranges.
//! * Expert stacks ([`WgpuWeightStack`]) keep a layer's experts back to back on the device, and
//!   `route_topk` → `matmul_selected` → `combine_selected` run an MoE layer with no read-back:
//!   the selected kernels read the expert ids from the routing tensor.
//! * Operations are recorded into one command encoder and submitted only when a result is read
//!   back, or after [`WgpuOptions::max_pending_dispatches`] dispatches.
//! * Arithmetic is f32 throughout (f16 and bf16 are storage formats only); reductions use
//!   subgroup operations when the adapter has them and workgroup memory otherwise.
//! * wgpu errors (validation, out of memory, device loss) become [`floe_compute::ComputeError::Device`]
//!   instead of panics.

mod adapter;
mod backend;
mod context;
mod expert_cache;
mod ops;
mod options;
mod pipelines;
mod pool;
mod profile;
mod recorder;
mod shaders;
mod stack;
mod staging;
mod tensor;
mod weights;

pub use adapter::AdapterSummary;
pub use backend::WgpuBackend;
/// The expert cache's counters (floe-compute's, as [`floe_compute::Backend::expert_cache_stats`]
/// returns them).
pub use floe_compute::ExpertCacheStats;
/// The expert cache's eviction policies (floe-stream's, re-exported for [`WgpuOptions`]).
pub use floe_stream::cache::PolicyKind;
pub use options::{AdapterChoice, CodeDecode, MatvecTuning, WgpuOptions};
pub use profile::KernelTime;
pub use stack::WgpuWeightStack;
pub use tensor::{WgpuTensor, WgpuWeight};
