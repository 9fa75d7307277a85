//! Where blobs are and how to check them: the one thing floe-stream needs from a checkpoint.

use std::path::PathBuf;

use floe_format::{BlobLocation, Checkpoint, FormatError};

/// The experts of one MoE layer, as a catalog lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogLayer {
    /// Decoder layer index.
    pub layer: u32,
    /// Number of experts.
    pub experts: u32,
    /// Bytes of one blob.
    pub blob_length: u64,
}

/// A source of blob locations and checksums. [`Checkpoint`] is the real one; tests may supply
/// their own files.
pub trait BlobCatalog: Send + Sync {
    /// Every MoE layer, in increasing layer order.
    fn layers(&self) -> Vec<CatalogLayer>;

    /// Experts a token routes to per layer (the model's top-k), if known.
    fn experts_per_token(&self) -> Option<u32>;

    /// Where the blob of (`layer`, `expert`) is.
    fn blob_location(&self, layer: u32, expert: u32) -> Result<BlobLocation, FormatError>;

    /// Checks `bytes` against the blob's checksum (a no-op if the catalog does not verify).
    fn verify_blob(&self, layer: u32, expert: u32, bytes: &[u8]) -> Result<(), FormatError>;

    /// A name for messages (the checkpoint directory).
    fn describe(&self) -> PathBuf;
}

impl BlobCatalog for Checkpoint {
    fn layers(&self) -> Vec<CatalogLayer> {
        let mut layers: Vec<CatalogLayer> = self
            .manifest()
            .expert_layers
            .iter()
            .map(|l| CatalogLayer {
                layer: l.layer,
                experts: l.blobs.len() as u32,
                blob_length: l.blob_length,
            })
            .collect();
        layers.sort_by_key(|l| l.layer);
        layers
    }

    fn experts_per_token(&self) -> Option<u32> {
        experts_per_token(self.text_config())
    }

    fn blob_location(&self, layer: u32, expert: u32) -> Result<BlobLocation, FormatError> {
        Checkpoint::blob_location(self, layer, expert)
    }

    fn verify_blob(&self, layer: u32, expert: u32, bytes: &[u8]) -> Result<(), FormatError> {
        Checkpoint::verify_blob(self, layer, expert, bytes)
    }

    fn describe(&self) -> PathBuf {
        self.dir().to_path_buf()
    }
}

/// `num_experts_per_tok` of an HF config (at the top level or in `text_config`).
pub fn experts_per_token(config: &serde_json::Value) -> Option<u32> {
    let read = |v: &serde_json::Value| {
        v.get("num_experts_per_tok")
            .and_then(serde_json::Value::as_u64)
    };
    read(config)
        .or_else(|| config.get("text_config").and_then(read))
        .and_then(|k| u32::try_from(k).ok())
}
