//! The trait through which a model asks for expert blobs, and its plain implementation.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::{Checkpoint, FormatError};

/// Supplies expert blobs to a model. The model asks for the experts a layer routed to; the source
/// delivers each blob as it becomes ready (in any order), so the model can compute on the first
/// experts while the rest still load. `floe-stream` implements it with a parallel I/O scheduler
/// and a cache; [`PreadExpertSource`] is the plain positioned-read version.
pub trait ExpertSource: Send + Sync {
    /// Fetches the blobs of `experts` of `layer`, calling `on_ready(i, blob)` once for each
    /// `experts[i]` as it arrives (verified against its checksum unless verification is off).
    /// Returns after every blob has been delivered or on the first error, which names the layer
    /// and expert.
    fn fetch(
        &self,
        layer: u32,
        experts: &[u32],
        on_ready: &mut dyn FnMut(usize, Bytes) -> Result<(), FormatError>,
    ) -> Result<(), FormatError>;

    /// Tells the source which experts of `layer` will probably be asked for next (prefetch).
    /// The default ignores it.
    fn hint(&self, layer: u32, experts: &[u32]) {
        let _ = (layer, experts);
    }

    /// Whether the source acts on [`hint`](Self::hint)s, so the model should spend the extra
    /// router work to compute them. The default is false.
    fn wants_hints(&self) -> bool {
        false
    }
}

/// Reads each blob with one positioned read (`pread`) through the page cache, no caching of its own.
pub struct PreadExpertSource {
    checkpoint: Arc<Checkpoint>,
    /// Each expert layer's file, opened on first use (indexed like the manifest's layers).
    files: Vec<OnceLock<File>>,
}

impl PreadExpertSource {
    /// A source reading from `checkpoint`'s files.
    pub fn new(checkpoint: Arc<Checkpoint>) -> Self {
        let files = checkpoint
            .manifest()
            .expert_layers
            .iter()
            .map(|_| OnceLock::new())
            .collect();
        Self { checkpoint, files }
    }

    /// The checkpoint read from.
    pub fn checkpoint(&self) -> &Arc<Checkpoint> {
        &self.checkpoint
    }

    /// Reads and verifies the blob of (`layer`, `expert`).
    pub fn read_blob(&self, layer: u32, expert: u32) -> Result<Bytes, FormatError> {
        let location = self.checkpoint.blob_location(layer, expert)?;
        let read_error = |source| FormatError::ExpertRead {
            path: location.path.clone(),
            layer,
            expert,
            source,
        };
        let index = self
            .checkpoint
            .manifest()
            .expert_layers
            .iter()
            .position(|l| l.layer == layer)
            .expect("blob_location found the layer");
        let file = match self.files[index].get() {
            Some(file) => file,
            None => {
                let opened = File::open(&location.path).map_err(read_error)?;
                self.files[index].get_or_init(|| opened)
            }
        };
        let mut blob = vec![0u8; location.length as usize];
        file.read_exact_at(&mut blob, location.offset)
            .map_err(read_error)?;
        self.checkpoint.verify_blob(layer, expert, &blob)?;
        Ok(Bytes::from(blob))
    }
}

impl ExpertSource for PreadExpertSource {
    fn fetch(
        &self,
        layer: u32,
        experts: &[u32],
        on_ready: &mut dyn FnMut(usize, Bytes) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        for (i, &expert) in experts.iter().enumerate() {
            let blob = self.read_blob(layer, expert)?;
            on_ready(i, blob)?;
        }
        Ok(())
    }
}
