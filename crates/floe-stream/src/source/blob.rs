//! A blob read from disk, shared by the cache and every `Bytes` handed to the model.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::cache::Cacheable;
use crate::engine::BlobData;

/// One expert blob in memory, with the outcome of its checksum check (done once per read).
pub(crate) struct Blob {
    data: BlobData,
    verified: OnceLock<bool>,
}

impl Blob {
    /// A blob holding `data`, not yet verified.
    pub(crate) fn new(data: BlobData) -> Arc<Self> {
        Arc::new(Self {
            data,
            verified: OnceLock::new(),
        })
    }

    /// A blob that needs no verification (verification is off).
    pub(crate) fn trusted(data: BlobData) -> Arc<Self> {
        let blob = Self::new(data);
        let _ = blob.verified.set(true);
        blob
    }

    /// The bytes.
    pub(crate) fn data(&self) -> &[u8] {
        self.data.as_ref()
    }

    /// Runs `check` (true: the bytes are good) once per blob and remembers the outcome, so later
    /// callers learn it without re-hashing. Returns whether this call ran the check, and the
    /// outcome.
    pub(crate) fn verify_once(&self, check: impl FnOnce(&[u8]) -> bool) -> (bool, bool) {
        let mut ran = false;
        let ok = *self.verified.get_or_init(|| {
            ran = true;
            check(self.data())
        });
        (ran, ok)
    }

    /// A zero-copy `Bytes` view that keeps the blob (and so its pin) alive.
    pub(crate) fn bytes(self: &Arc<Self>) -> Bytes {
        Bytes::from_owner(BlobOwner(Arc::clone(self)))
    }
}

/// The owner behind a blob's `Bytes`.
struct BlobOwner(Arc<Blob>);

impl AsRef<[u8]> for BlobOwner {
    fn as_ref(&self) -> &[u8] {
        self.0.data()
    }
}

impl Cacheable for Arc<Blob> {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// In use while anyone but the cache holds it: a `Bytes` given to the model, or a fetch about
    /// to deliver it.
    fn in_use(&self) -> bool {
        Arc::strong_count(self) > 1
    }
}
