//! floe's streamable checkpoint format.
//!
//! A checkpoint is a directory: `manifest.json` ([`Manifest`]), a dense data file whose tensors are
//! memory-mapped, one data file per MoE layer holding one contiguous 4 KiB-aligned blob per expert,
//! and the source's tokenizer files. [`Checkpoint`] opens and validates one and hands out the
//! mmap'd dense tensors and each expert blob's location, so an I/O scheduler can read blobs
//! itself; [`ExpertSource`] is the small trait through which a model asks for blobs. The
//! converter from HF safetensors / MLX checkpoints lives in [`convert`]; [`CheckpointWriter`]
//! writes a checkpoint from any source (the converter, a synthetic model).
//!
//! The byte-level specification is `docs/format.md`.

pub mod convert;
mod error;
pub mod layout;
pub mod manifest;
mod reader;
mod source;
mod validate;
mod writer;

pub use error::FormatError;
pub use manifest::Manifest;
pub use reader::{BlobLocation, Checkpoint, DenseView, ExpertView, OpenOptions};
pub use source::{ExpertSource, PreadExpertSource};
pub use writer::{CheckpointWriter, DenseTensorWriter, ExpertBlobWriter, ExpertPartSpec};
