//! Opening and reading a checkpoint.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use floe_quant::QuantFormat;

use crate::layout::{checksum, checksum_hex, parse_checksum, DataKind, MANIFEST_FILE};
use crate::manifest::{ExpertLayer, Manifest};
use crate::validate::{check_data_files, check_manifest};
use crate::FormatError;

/// How to open a checkpoint.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Verify checksums of dense tensors when first viewed and of expert blobs when read
    /// (default true; benchmarks may turn it off).
    pub verify_checksums: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            verify_checksums: true,
        }
    }
}

/// An open checkpoint: the parsed manifest, the memory-mapped dense file.
pub struct Checkpoint {
    dir: PathBuf,
    manifest: Manifest,
    verify: bool,
    /// Each dense data file, mapped, as one `Bytes` that tensor views slice.
    dense_files: HashMap<String, Bytes>,
    dense_index: HashMap<String, usize>,
    dense_verified: Vec<AtomicBool>,
    layer_index: HashMap<u32, usize>,
    /// Parsed blob checksums, `[layer index][expert]`.
    blob_checksums: Vec<Vec<u64>>,
}

/// A dense tensor: its format, shape, and bytes that share the mmap (cheap to clone, zero-copy).
#[derive(Clone, Debug)]
pub struct DenseView {
    /// Tensor name.
    pub name: String,
    /// Logical shape.
    pub shape: Vec<usize>,
    /// Storage format.
    pub format: QuantFormat,
    /// The stored bytes (a slice of the mmap'd dense file).
    pub bytes: Bytes,
}

/// Where an expert blob lives, for a reader that does its own I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobLocation {
    /// Absolute path of the layer's data file.
    pub path: PathBuf,
    /// Byte offset (a multiple of 4096).
    pub offset: u64,
    /// Byte length.
    pub length: u64,
    /// Expected xxh3-64 of the bytes.
    pub checksum: u64,
}

/// One projection of an expert, cut from its blob without copying.
#[derive(Clone, Debug)]
pub struct ExpertView {
    /// Output features.
    pub rows: usize,
    /// Input features.
    pub cols: usize,
    /// Storage format.
    pub format: QuantFormat,
    /// The stored bytes.
    pub bytes: Bytes,
}

/// Keeps a mapping alive for as long as a `Bytes` slice of it exists.
struct MappedFile(memmap2::Mmap);

impl AsRef<[u8]> for MappedFile {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Checkpoint {
    /// Opens `dir` with default options (checksums verified).
    pub fn open(dir: &Path) -> Result<Self, FormatError> {
        Self::open_with(dir, OpenOptions::default())
    }

    /// Opens `dir`: parses and validates the manifest, checks every data file's length and header
    /// against it, checks the extra files (length, and checksum when verification is on), and
    /// maps the dense file.
    pub fn open_with(dir: &Path, options: OpenOptions) -> Result<Self, FormatError> {
        let dir = std::path::absolute(dir).map_err(|e| FormatError::io(dir, e))?;
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = std::fs::read(&manifest_path).map_err(|e| {
            FormatError::invalid(
                &manifest_path,
                format!("cannot read the manifest (is this a floe checkpoint?): {e}"),
            )
        })?;
        let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
            FormatError::invalid(&manifest_path, format!("malformed manifest: {e}"))
        })?;
        let roles = check_manifest(&manifest_path, &manifest)?;
        check_data_files(&dir, &manifest, &roles)?;
        check_extra_files(&dir, &manifest, options.verify_checksums)?;

        let mut dense_files = HashMap::new();
        for (name, role) in &roles {
            if role.kind == DataKind::Dense {
                let path = dir.join(name);
                let file = File::open(&path).map_err(|e| FormatError::io(&path, e))?;
                // SAFETY: the file is opened read-only; like every mmap user we rely on nobody
                // truncating or rewriting a checkpoint while it is open.
                let map =
                    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| FormatError::io(&path, e))?;
                dense_files.insert(name.clone(), Bytes::from_owner(MappedFile(map)));
            }
        }
        let dense_index = manifest
            .dense
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let dense_verified = manifest
            .dense
            .iter()
            .map(|_| AtomicBool::new(false))
            .collect();
        let layer_index = manifest
            .expert_layers
            .iter()
            .enumerate()
            .map(|(i, l)| (l.layer, i))
            .collect();
        let blob_checksums = manifest
            .expert_layers
            .iter()
            .map(|l| {
                l.blobs
                    .iter()
                    .map(|b| parse_checksum(&b.checksum).expect("checked by check_manifest"))
                    .collect()
            })
            .collect();
        Ok(Self {
            dir,
            manifest,
            verify: options.verify_checksums,
            dense_files,
            dense_index,
            dense_verified,
            layer_index,
            blob_checksums,
        })
    }

    /// The checkpoint directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The model's HF config, verbatim.
    pub fn config(&self) -> &serde_json::Value {
        &self.manifest.config
    }

    /// The text model's config: the config's `text_config` for a multimodal model (such as
    /// `qwen3_5_moe`), otherwise the config itself.
    pub fn text_config(&self) -> &serde_json::Value {
        match self.manifest.config.get("text_config") {
            Some(text) if text.is_object() => text,
            _ => &self.manifest.config,
        }
    }

    /// The architecture (`model_type`).
    pub fn arch(&self) -> &str {
        &self.manifest.arch
    }

    /// Whether checksums are verified.
    pub fn verifies_checksums(&self) -> bool {
        self.verify
    }

    /// A dense tensor by name (checksum verified on first view when enabled).
    pub fn dense(&self, name: &str) -> Result<DenseView, FormatError> {
        let &index = self.dense_index.get(name).ok_or_else(|| {
            FormatError::NotFound(format!("{}: no dense tensor '{name}'", self.dir.display()))
        })?;
        let tensor = &self.manifest.dense[index];
        let file = &self.dense_files[&tensor.file];
        let bytes = file.slice(tensor.offset as usize..(tensor.offset + tensor.length) as usize);
        if self.verify && !self.dense_verified[index].load(Ordering::Acquire) {
            let found = checksum(&bytes);
            let expected = parse_checksum(&tensor.checksum).expect("checked by check_manifest");
            if found != expected {
                return Err(FormatError::TensorChecksum {
                    path: self.dir.join(&tensor.file),
                    tensor: tensor.name.clone(),
                    expected: tensor.checksum.clone(),
                    found: checksum_hex(found),
                });
            }
            self.dense_verified[index].store(true, Ordering::Release);
        }
        Ok(DenseView {
            name: tensor.name.clone(),
            shape: tensor.shape.iter().map(|&d| d as usize).collect(),
            format: tensor.format,
            bytes,
        })
    }

    /// Whether a dense tensor of that name exists.
    pub fn has_dense(&self, name: &str) -> bool {
        self.dense_index.contains_key(name)
    }

    /// The expert layout of decoder layer `layer`, or `None` if it has no routed experts.
    pub fn expert_layer(&self, layer: u32) -> Option<&ExpertLayer> {
        self.layer_index
            .get(&layer)
            .map(|&i| &self.manifest.expert_layers[i])
    }

    /// Where the blob of (`layer`, `expert`) is.
    pub fn blob_location(&self, layer: u32, expert: u32) -> Result<BlobLocation, FormatError> {
        let (index, expert_layer) = self.layer_entry(layer)?;
        let blob = expert_layer.blobs.get(expert as usize).ok_or_else(|| {
            FormatError::NotFound(format!(
                "{}: layer {layer} has {} experts, no expert {expert}",
                self.dir.display(),
                expert_layer.blobs.len()
            ))
        })?;
        Ok(BlobLocation {
            path: self.dir.join(&expert_layer.file),
            offset: blob.offset,
            length: expert_layer.blob_length,
            checksum: self.blob_checksums[index][expert as usize],
        })
    }

    /// Checks `bytes` against the checksum of (`layer`, `expert`) if verification is on.
    /// `bytes` must hold at least the blob's `blob_length` bytes; only those are checked (a
    /// reader may read a whole 4096-byte-rounded stride).
    pub fn verify_blob(&self, layer: u32, expert: u32, bytes: &[u8]) -> Result<(), FormatError> {
        let location = self.blob_location(layer, expert)?;
        if (bytes.len() as u64) < location.length {
            return Err(FormatError::invalid(
                &location.path,
                format!(
                    "expert {expert} of layer {layer}: {} bytes given, the blob is {}",
                    bytes.len(),
                    location.length
                ),
            ));
        }
        if !self.verify {
            return Ok(());
        }
        let found = checksum(&bytes[..location.length as usize]);
        if found != location.checksum {
            return Err(FormatError::BlobChecksum {
                path: location.path,
                layer,
                expert,
                expected: checksum_hex(location.checksum),
                found: checksum_hex(found),
            });
        }
        Ok(())
    }

    /// Cuts a blob of `layer` into its parts (`gate`, `up`, `down`), zero-copy. `blob` must hold
    /// at least `blob_length` bytes (trailing bytes, such as stride padding, are ignored).
    pub fn split_blob(
        &self,
        layer: u32,
        blob: &Bytes,
    ) -> Result<Vec<(String, ExpertView)>, FormatError> {
        let (_, expert_layer) = self.layer_entry(layer)?;
        if (blob.len() as u64) < expert_layer.blob_length {
            return Err(FormatError::invalid(
                self.dir.join(&expert_layer.file),
                format!(
                    "layer {layer}: a blob of {} bytes is shorter than blob_length {}",
                    blob.len(),
                    expert_layer.blob_length
                ),
            ));
        }
        Ok(expert_layer
            .parts
            .iter()
            .map(|part| {
                let view = ExpertView {
                    rows: part.rows as usize,
                    cols: part.cols as usize,
                    format: part.format,
                    bytes: blob.slice(part.offset as usize..(part.offset + part.length) as usize),
                };
                (part.name.clone(), view)
            })
            .collect())
    }

    /// Path of an extra file (e.g. `tokenizer.json`) if the checkpoint has it.
    pub fn extra_file(&self, name: &str) -> Option<PathBuf> {
        self.manifest
            .extra_files
            .iter()
            .find(|f| f.name == name)
            .map(|f| self.dir.join(&f.name))
    }

    fn layer_entry(&self, layer: u32) -> Result<(usize, &ExpertLayer), FormatError> {
        let &index = self.layer_index.get(&layer).ok_or_else(|| {
            FormatError::NotFound(format!(
                "{}: layer {layer} has no routed experts",
                self.dir.display()
            ))
        })?;
        Ok((index, &self.manifest.expert_layers[index]))
    }
}

/// Checks that every extra file exists with its length, and its checksum when `verify`.
fn check_extra_files(dir: &Path, manifest: &Manifest, verify: bool) -> Result<(), FormatError> {
    for extra in &manifest.extra_files {
        let path = dir.join(&extra.name);
        let length = std::fs::metadata(&path)
            .map_err(|e| {
                FormatError::invalid(
                    &path,
                    format!("extra file listed in the manifest is missing: {e}"),
                )
            })?
            .len();
        if length != extra.length {
            return Err(FormatError::invalid(
                &path,
                format!("file is {length} bytes, the manifest says {}", extra.length),
            ));
        }
        if verify {
            let bytes = std::fs::read(&path).map_err(|e| FormatError::io(&path, e))?;
            let found = checksum_hex(checksum(&bytes));
            if found != extra.checksum {
                return Err(FormatError::invalid(
                    &path,
                    format!(
                        "checksum {found} differs from the manifest's {}",
                        extra.checksum
                    ),
                ));
            }
        }
    }
    Ok(())
}
