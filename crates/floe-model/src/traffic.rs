//! Counting the expert blobs a model fetches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use floe_format::{ExpertSource, FormatError};

/// Expert blobs and bytes delivered to a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpertTraffic {
    /// Blobs delivered.
    pub blobs: u64,
    /// Bytes delivered.
    pub bytes: u64,
}

impl ExpertTraffic {
    /// `self - earlier` (saturating): the traffic of one stretch of work.
    pub fn since(&self, earlier: &ExpertTraffic) -> ExpertTraffic {
        ExpertTraffic {
            blobs: self.blobs.saturating_sub(earlier.blobs),
            bytes: self.bytes.saturating_sub(earlier.bytes),
        }
    }
}

/// An [`ExpertSource`] that counts what another one delivers.
pub struct CountingExpertSource {
    inner: Arc<dyn ExpertSource>,
    blobs: AtomicU64,
    bytes: AtomicU64,
}

impl CountingExpertSource {
    /// Counts the deliveries of `inner`.
    pub fn new(inner: Arc<dyn ExpertSource>) -> Self {
        Self {
            inner,
            blobs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// The totals so far.
    pub fn traffic(&self) -> ExpertTraffic {
        ExpertTraffic {
            blobs: self.blobs.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

impl ExpertSource for CountingExpertSource {
    fn fetch(
        &self,
        layer: u32,
        experts: &[u32],
        on_ready: &mut dyn FnMut(usize, Bytes) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        self.inner.fetch(layer, experts, &mut |i, blob| {
            self.blobs.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(blob.len() as u64, Ordering::Relaxed);
            on_ready(i, blob)
        })
    }

    fn hint(&self, layer: u32, experts: &[u32]) {
        self.inner.hint(layer, experts);
    }

    fn wants_hints(&self) -> bool {
        self.inner.wants_hints()
    }
}
