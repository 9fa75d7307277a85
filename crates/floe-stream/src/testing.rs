//! Test support: a small on-disk catalog of blob files, independent of floe-format's writer.

use std::io::Write;
use std::path::{Path, PathBuf};

use floe_format::{BlobLocation, FormatError};

use crate::catalog::{BlobCatalog, CatalogLayer};

/// Layers of fixed-size blobs in one file per layer under a temporary directory.
pub(crate) struct TestCatalog {
    pub dir: tempfile::TempDir,
    pub layers: Vec<CatalogLayer>,
    pub top_k: u32,
    checksums: Vec<Vec<u64>>,
}

/// The byte at `at` of blob (`layer`, `expert`).
pub(crate) fn blob_byte(layer: u32, expert: u32, at: usize) -> u8 {
    (at as u32)
        .wrapping_mul(2654435761)
        .wrapping_add(layer * 131 + expert * 7)
        .to_le_bytes()[3]
}

/// Bytes of blob (`layer`, `expert`).
pub(crate) fn blob_bytes(layer: u32, expert: u32, len: u64) -> Vec<u8> {
    (0..len as usize)
        .map(|at| blob_byte(layer, expert, at))
        .collect()
}

/// Where blob `expert` of a layer with `blob_length` blobs starts.
pub(crate) fn blob_offset(expert: u32, blob_length: u64) -> u64 {
    4096 + u64::from(expert) * blob_length.div_ceil(4096) * 4096
}

impl TestCatalog {
    /// `layers` layers (numbered 1, 2, … so that layer 0 is dense) of `experts` blobs of
    /// `blob_length` bytes each; a token routes to `top_k` experts.
    pub(crate) fn new(layers: u32, experts: u32, blob_length: u64, top_k: u32) -> Self {
        let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let mut checksums = Vec::new();
        let mut list = Vec::new();
        for layer in 1..=layers {
            let mut file = std::fs::File::create(Self::path_in(dir.path(), layer)).unwrap();
            file.write_all(&[0u8; 4096]).unwrap();
            let mut sums = Vec::new();
            for expert in 0..experts {
                let bytes = blob_bytes(layer, expert, blob_length);
                sums.push(xxhash_rust::xxh3::xxh3_64(&bytes));
                file.write_all(&bytes).unwrap();
                let padding = blob_offset(expert + 1, blob_length)
                    - blob_offset(expert, blob_length)
                    - blob_length;
                if expert + 1 < experts {
                    file.write_all(&vec![0u8; padding as usize]).unwrap();
                }
            }
            checksums.push(sums);
            list.push(CatalogLayer {
                layer,
                experts,
                blob_length,
            });
        }
        Self {
            dir,
            layers: list,
            top_k,
            checksums,
        }
    }

    fn path_in(dir: &Path, layer: u32) -> PathBuf {
        dir.join(format!("experts-{layer:03}.bin"))
    }

    /// The file of `layer`.
    pub(crate) fn path(&self, layer: u32) -> PathBuf {
        Self::path_in(self.dir.path(), layer)
    }
}

impl BlobCatalog for TestCatalog {
    fn layers(&self) -> Vec<CatalogLayer> {
        self.layers.clone()
    }

    fn experts_per_token(&self) -> Option<u32> {
        Some(self.top_k)
    }

    fn blob_location(&self, layer: u32, expert: u32) -> Result<BlobLocation, FormatError> {
        let info = self
            .layers
            .iter()
            .find(|l| l.layer == layer && expert < l.experts)
            .ok_or_else(|| FormatError::NotFound(format!("no expert {expert} in layer {layer}")))?;
        Ok(BlobLocation {
            path: self.path(layer),
            offset: blob_offset(expert, info.blob_length),
            length: info.blob_length,
            checksum: self.checksums[(layer - 1) as usize][expert as usize],
        })
    }

    fn verify_blob(&self, layer: u32, expert: u32, bytes: &[u8]) -> Result<(), FormatError> {
        let expected = self.checksums[(layer - 1) as usize][expert as usize];
        let found = xxhash_rust::xxh3::xxh3_64(bytes);
        if expected == found {
            Ok(())
        } else {
            Err(FormatError::BlobChecksum {
                path: self.path(layer),
                layer,
                expert,
                expected: format!("{expected:016x}"),
                found: format!("{found:016x}"),
            })
        }
    }

    fn describe(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}
