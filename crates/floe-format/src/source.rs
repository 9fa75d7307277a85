//! The trait through which a model asks for expert blobs, and its plain implementation.

use std::sync::Arc;

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
}

/// Reads each blob with one positioned read (`pread`) through the page cache, no caching of its own.
pub struct PreadExpertSource {
    checkpoint: Arc<Checkpoint>,
}

impl PreadExpertSource {
    /// A source reading from `checkpoint`'s files.
    pub fn new(checkpoint: Arc<Checkpoint>) -> Self {
        Self { checkpoint }
    }
}

impl ExpertSource for PreadExpertSource {
    fn fetch(
        &self,
        layer: u32,
        experts: &[u32],
        on_ready: &mut dyn FnMut(usize, Bytes) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        let _ = (&self.checkpoint, layer, experts, on_ready);
        todo!("floe-format helper implements this")
    }
}
