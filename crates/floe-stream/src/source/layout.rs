//! The blob table of a source: for every (layer, expert), which open file and where.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use floe_format::FormatError;

use crate::cache::BlobKey;
use crate::catalog::{BlobCatalog, CatalogLayer};
use crate::engine::{BlobFile, IoMode};
use crate::StreamError;

/// One blob's place.
#[derive(Clone, Debug)]
pub(crate) struct BlobPlace {
    /// Index into [`Layout::files`].
    pub file: usize,
    /// Byte offset in the file.
    pub offset: u64,
    /// Byte length.
    pub length: u64,
}

/// Every blob's place, looked up once at construction.
pub(crate) struct Layout {
    /// Open files, by index.
    pub files: Vec<Arc<BlobFile>>,
    /// The MoE layers, in layer order.
    pub layers: Vec<CatalogLayer>,
    /// Per decoder layer index: its position in `layers` and its blobs, if it is an MoE layer.
    by_layer: Vec<Option<(usize, Vec<BlobPlace>)>>,
    /// The largest blob.
    pub max_blob: u64,
}

impl Layout {
    /// Builds the table from `catalog`, opening every data file in `mode`.
    pub(crate) fn build(catalog: &dyn BlobCatalog, mode: IoMode) -> Result<Self, StreamError> {
        let layers = catalog.layers();
        if layers.is_empty() {
            return Err(StreamError::Config(format!(
                "{}: the checkpoint has no routed-expert layers to stream",
                catalog.describe().display()
            )));
        }
        let mut files: Vec<Arc<BlobFile>> = Vec::new();
        let mut file_index: HashMap<PathBuf, usize> = HashMap::new();
        let max_layer = layers.iter().map(|l| l.layer).max().unwrap_or(0) as usize;
        let mut by_layer: Vec<Option<(usize, Vec<BlobPlace>)>> =
            (0..=max_layer).map(|_| None).collect();
        let mut max_blob = 0;
        for (position, layer) in layers.iter().enumerate() {
            let mut places = Vec::with_capacity(layer.experts as usize);
            for expert in 0..layer.experts {
                let location = catalog.blob_location(layer.layer, expert)?;
                let file = match file_index.get(&location.path) {
                    Some(&index) => index,
                    None => {
                        let opened = BlobFile::open(files.len(), &location.path, mode)
                            .map_err(|e| StreamError::io(&location.path, e))?;
                        file_index.insert(location.path.clone(), files.len());
                        files.push(Arc::new(opened));
                        files.len() - 1
                    }
                };
                if mode == IoMode::Direct
                    && location.offset % crate::buffer::IO_ALIGNMENT as u64 != 0
                {
                    return Err(StreamError::Config(format!(
                        "{}: expert {expert} of layer {} is at offset {}, not 4096-aligned, so O_DIRECT cannot read it; use buffered I/O",
                        location.path.display(),
                        layer.layer,
                        location.offset
                    )));
                }
                max_blob = max_blob.max(location.length);
                places.push(BlobPlace {
                    file,
                    offset: location.offset,
                    length: location.length,
                });
            }
            by_layer[layer.layer as usize] = Some((position, places));
        }
        Ok(Self {
            files,
            layers,
            by_layer,
            max_blob,
        })
    }

    /// The place of `key`, or an error naming the layer and expert.
    pub(crate) fn place(&self, key: BlobKey) -> Result<&BlobPlace, FormatError> {
        let (_, places) = self.layer(key.layer)?;
        places.get(key.expert as usize).ok_or_else(|| {
            FormatError::NotFound(format!(
                "expert {} of layer {} does not exist (the layer has {} experts)",
                key.expert,
                key.layer,
                places.len()
            ))
        })
    }

    /// The position of MoE layer `layer` in [`Layout::layers`].
    pub(crate) fn position(&self, layer: u32) -> Result<usize, FormatError> {
        self.layer(layer).map(|(position, _)| *position)
    }

    fn layer(&self, layer: u32) -> Result<&(usize, Vec<BlobPlace>), FormatError> {
        self.by_layer
            .get(layer as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| {
                FormatError::NotFound(format!("layer {layer} has no routed experts to fetch"))
            })
    }

    /// The path of a blob's file.
    pub(crate) fn path(&self, place: &BlobPlace) -> &std::path::Path {
        self.files[place.file].path()
    }
}
