//! floe-stream: the expert-streaming I/O scheduler.
//!
//! A Mixture-of-Experts model routes each token to K of a layer's N experts; floe keeps the dense
//! weights resident and reads the routed experts' blobs from SSD. This crate does the reading:
//!
//! * [`engine`]: read engines behind one trait ([`engine::ReadEngine`]): a parallel `pread`
//!   thread pool, `io_uring` (falls back to `pread` where the kernel refuses it), an mmap
//!   baseline, and a fault-injecting wrapper; `O_DIRECT` or buffered ([`engine::IoMode`]), into
//!   4096-aligned pooled buffers ([`buffer`]) that reach the model zero-copy as `bytes::Bytes`.
//! * [`cache`]: a RAM expert cache with a byte budget and a policy trait (LRU, LFU with aging,
//!   none), never evicting a blob in use.
//! * [`StreamingExpertSource`]: the [`floe_format::ExpertSource`] built from those: a fetch's
//!   misses go out as one batch, each blob is delivered as it arrives, checksums are verified,
//!   hinted blobs are prefetched only in idle queue slots, and [`StreamStats`] say what happened.
//! * [`trace`] and [`replay`]: routing traces (synthetic, with skew and adjacent-token reuse, or
//!   recorded) and replaying them through a source, for cache and engine studies.
//! * [`synth`]: random-weight checkpoints with real models' shapes, written with floe-format's
//!   writer, for benchmarks.
//!
//! It needs only floe-format (blob locations and checksums), not the model code. The design and
//! measurements are in `docs/streaming.md`.

pub mod buffer;
pub mod cache;
pub mod catalog;
mod config;
pub mod engine;
mod error;
pub mod replay;
pub mod size;
mod source;
mod stats;
pub mod synth;
pub mod trace;

#[cfg(test)]
pub(crate) mod testing;

pub use catalog::BlobCatalog;
pub use config::StreamConfig;
pub use error::StreamError;
pub use source::StreamingExpertSource;
pub use stats::{LayerStats, StreamStats};
