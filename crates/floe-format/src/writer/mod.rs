//! Writing a checkpoint: [`CheckpointWriter`].

mod dense;
mod experts;
mod fill;
mod region;

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use floe_quant::QuantFormat;

pub use dense::DenseTensorWriter;
pub use experts::{ExpertBlobWriter, ExpertPartSpec};

use crate::layout::{
    align_up, checkpoint_id_hex, checksum, checksum_hex, is_plain_file_name, tensor_bytes,
    DataHeader, DataKind, DATA_HEADER_LEN, DENSE_FILE, MANIFEST_FILE, NO_LAYER,
};
use crate::manifest::{
    DataFile, DenseTensor, ExpertLayer, ExtraFile, Manifest, ALIGNMENT, CHECKSUM_XXH3_64,
    FORMAT_VERSION, MANIFEST_MAGIC,
};
use crate::FormatError;

/// Writes a checkpoint directory.
///
/// Everything goes into `<out>.partial/` next to `<out>`: the dense file `dense.bin` (tensors
/// appended at 4096-aligned offsets), one `experts-LLL.bin` per MoE layer (blobs at fixed
/// offsets, so experts may be written in any order), and the extra files. [`finish`] fsyncs the
/// data files, writes `manifest.json` last, and renames the directory to `<out>`. A writer
/// dropped before `finish` removes its `.partial` directory, so a failed conversion leaves
/// nothing behind.
///
/// Dense tensors are written whole ([`write_dense`]) or a chunk at a time ([`begin_dense`]);
/// expert blobs whole ([`write_expert`], [`write_expert_parts`]) or a part chunk at a time
/// ([`begin_expert`]). Chunked writes keep memory bounded for matrices of any size.
///
/// [`finish`]: CheckpointWriter::finish
/// [`write_dense`]: CheckpointWriter::write_dense
/// [`begin_dense`]: CheckpointWriter::begin_dense
/// [`write_expert`]: CheckpointWriter::write_expert
/// [`write_expert_parts`]: CheckpointWriter::write_expert_parts
/// [`begin_expert`]: CheckpointWriter::begin_expert
pub struct CheckpointWriter {
    out_dir: PathBuf,
    partial_dir: PathBuf,
    force: bool,
    arch: String,
    config: serde_json::Value,
    id: [u8; 16],
    dense_path: PathBuf,
    dense_file: File,
    /// Offset where the next dense tensor goes (always a multiple of [`ALIGNMENT`]).
    dense_end: u64,
    dense: Vec<DenseTensor>,
    dense_names: HashSet<String>,
    /// A tensor or blob begun with a `begin_*` method whose writer has not finished.
    unfinished: Option<String>,
    extra_files: Vec<ExtraFile>,
    layers: BTreeMap<u32, experts::LayerState>,
    finished: bool,
}

impl CheckpointWriter {
    /// Starts a checkpoint of architecture `arch` (the text model's HF `model_type`) whose HF
    /// config is `config`, to be finished into `out_dir`. Fails with
    /// [`FormatError::OutputExists`] if `out_dir` exists and `force` is false; with `force` an
    /// existing `out_dir` is replaced only when [`finish`](Self::finish) succeeds. A stale
    /// `<out_dir>.partial/` from an earlier run is removed.
    pub fn create(
        out_dir: &Path,
        arch: &str,
        config: serde_json::Value,
        force: bool,
    ) -> Result<Self, FormatError> {
        if arch.is_empty() {
            return Err(FormatError::invalid(
                out_dir,
                "the architecture name is empty",
            ));
        }
        if out_dir.symlink_metadata().is_ok() && !force {
            return Err(FormatError::OutputExists {
                path: out_dir.to_path_buf(),
            });
        }
        let partial_dir = partial_path(out_dir)?;
        if partial_dir.symlink_metadata().is_ok() {
            fs::remove_dir_all(&partial_dir).map_err(|e| FormatError::io(&partial_dir, e))?;
        }
        fs::create_dir_all(&partial_dir).map_err(|e| FormatError::io(&partial_dir, e))?;
        let id = new_checkpoint_id(out_dir);
        let dense_path = partial_dir.join(DENSE_FILE);
        let dense_file = create_data_file(
            &dense_path,
            DataHeader {
                kind: DataKind::Dense,
                checkpoint_id: id,
                layer: NO_LAYER,
            },
        )?;
        Ok(Self {
            out_dir: out_dir.to_path_buf(),
            partial_dir,
            force,
            arch: arch.to_string(),
            config,
            id,
            dense_path,
            dense_file,
            dense_end: DATA_HEADER_LEN,
            dense: Vec::new(),
            dense_names: HashSet::new(),
            unfinished: None,
            extra_files: Vec::new(),
            layers: BTreeMap::new(),
            finished: false,
        })
    }

    /// The directory being written (`<out>.partial`).
    pub fn partial_dir(&self) -> &Path {
        &self.partial_dir
    }

    /// The checkpoint id, 32 lowercase hex digits.
    pub fn checkpoint_id(&self) -> String {
        checkpoint_id_hex(&self.id)
    }

    /// Copies `src` verbatim into the checkpoint under its file name (e.g. `tokenizer.json`).
    pub fn copy_extra_file(&mut self, src: &Path) -> Result<(), FormatError> {
        let name = src
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| FormatError::invalid(src, "has no UTF-8 file name"))?
            .to_string();
        let bytes = fs::read(src).map_err(|e| FormatError::io(src, e))?;
        self.write_extra_file(&name, &bytes)
    }

    /// Writes an extra file `name` with contents `bytes` (for a writer that makes its own
    /// tokenizer or config rather than copying one).
    pub fn write_extra_file(&mut self, name: &str, bytes: &[u8]) -> Result<(), FormatError> {
        let path = self.partial_dir.join(name);
        if !is_plain_file_name(name)
            || name == MANIFEST_FILE
            || name == DENSE_FILE
            || (name.starts_with("experts-") && name.ends_with(".bin"))
        {
            return Err(FormatError::invalid(
                &path,
                "an extra file needs a plain name other than manifest.json and the data files'",
            ));
        }
        if self.extra_files.iter().any(|f| f.name == name) {
            return Err(FormatError::invalid(&path, "extra file written twice"));
        }
        write_synced(&path, bytes)?;
        self.extra_files.push(ExtraFile {
            name: name.to_string(),
            length: bytes.len() as u64,
            checksum: checksum_hex(checksum(bytes)),
        });
        Ok(())
    }

    /// Writes dense tensor `name` of logical `shape` stored in `format`; `bytes` must be exactly
    /// its stored bytes (`format`'s storage of the tensor, planes concatenated).
    pub fn write_dense(
        &mut self,
        name: &str,
        shape: &[usize],
        format: QuantFormat,
        bytes: &[u8],
    ) -> Result<(), FormatError> {
        let shape64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        if let Ok(expected) = tensor_bytes(format, &shape64) {
            if bytes.len() as u64 != expected {
                return Err(FormatError::invalid(
                    &self.dense_path,
                    format!(
                        "dense tensor '{name}': a {shape:?} {format} tensor takes {expected} bytes, got {}",
                        bytes.len()
                    ),
                ));
            }
        }
        let mut tensor = self.begin_dense(name, shape, format)?;
        tensor.write_bytes(bytes)?;
        tensor.finish()
    }

    /// Starts dense tensor `name` of logical `shape` stored in `format`, to be written a chunk
    /// at a time through the returned [`DenseTensorWriter`] (which must be finished before the
    /// next `begin_*`/`write_*` call of this writer and before [`finish`](Self::finish)).
    pub fn begin_dense(
        &mut self,
        name: &str,
        shape: &[usize],
        format: QuantFormat,
    ) -> Result<DenseTensorWriter<'_>, FormatError> {
        self.check_nothing_unfinished()?;
        if name.is_empty() {
            return Err(FormatError::invalid(
                &self.dense_path,
                "a dense tensor needs a name",
            ));
        }
        if self.dense_names.contains(name) {
            return Err(FormatError::invalid(
                &self.dense_path,
                format!("dense tensor '{name}' is written twice"),
            ));
        }
        let shape64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let length = tensor_bytes(format, &shape64).map_err(|e| {
            FormatError::invalid(&self.dense_path, format!("dense tensor '{name}': {e}"))
        })?;
        let (rows, cols) = match shape {
            [] => (1, 1),
            [.., last] => (shape[..shape.len() - 1].iter().product(), *last),
        };
        let offset = self.dense_end;
        self.dense_end = align_up(offset + length, ALIGNMENT);
        self.dense_names.insert(name.to_string());
        self.unfinished = Some(format!("dense tensor '{name}'"));
        Ok(DenseTensorWriter::new(
            self, name, shape64, format, offset, length, rows, cols,
        ))
    }

    /// Lays out the experts of decoder layer `layer`: `num_experts` blobs, each holding `parts`
    /// (`gate` and `up` `[I, H]`, `down` `[H, I]`, in any floe-quant formats) at 64-byte-aligned
    /// offsets in the given order. Creates the layer's file; returns the layout.
    pub fn begin_expert_layer(
        &mut self,
        layer: u32,
        num_experts: u32,
        parts: &[ExpertPartSpec],
    ) -> Result<&ExpertLayer, FormatError> {
        let path = self
            .partial_dir
            .join(crate::layout::expert_file_name(layer));
        if self.layers.contains_key(&layer) {
            return Err(FormatError::invalid(
                &path,
                format!("expert layer {layer} is begun twice"),
            ));
        }
        let state = experts::LayerState::create(&path, self.id, layer, num_experts, parts)?;
        Ok(&self.layers.entry(layer).or_insert(state).layout)
    }

    /// The layout of expert layer `layer`, if begun.
    pub fn expert_layer(&self, layer: u32) -> Option<&ExpertLayer> {
        self.layers.get(&layer).map(|s| &s.layout)
    }

    /// Writes the whole blob of (`layer`, `expert`): exactly `blob_length` bytes, each part at its
    /// offset and zero padding between parts.
    pub fn write_expert(
        &mut self,
        layer: u32,
        expert: u32,
        blob: &[u8],
    ) -> Result<(), FormatError> {
        self.check_nothing_unfinished()?;
        self.layer_mut(layer)?.write_blob(layer, expert, blob)
    }

    /// Writes the blob of (`layer`, `expert`) from the stored bytes of each part, in the order of
    /// the layer's parts.
    pub fn write_expert_parts(
        &mut self,
        layer: u32,
        expert: u32,
        parts: &[&[u8]],
    ) -> Result<(), FormatError> {
        let state = self.layer_mut(layer)?;
        let names: Vec<String> = state.layout.parts.iter().map(|p| p.name.clone()).collect();
        let bad = |m: String| {
            FormatError::invalid(
                &state.path,
                format!("expert {expert} of layer {layer}: {m}"),
            )
        };
        if parts.len() != names.len() {
            return Err(bad(format!(
                "{} parts given, the layer has {}",
                parts.len(),
                names.len()
            )));
        }
        for (part, bytes) in state.layout.parts.iter().zip(parts) {
            if bytes.len() as u64 != part.length {
                return Err(bad(format!(
                    "part '{}' is {} bytes, the layout needs {}",
                    part.name,
                    bytes.len(),
                    part.length
                )));
            }
        }
        let mut blob = self.begin_expert(layer, expert)?;
        for (name, bytes) in names.iter().zip(parts) {
            blob.write_part_bytes(name, bytes)?;
        }
        blob.finish()
    }

    /// Starts the blob of (`layer`, `expert`), to be written a part chunk at a time through the
    /// returned [`ExpertBlobWriter`] (finish it before the next `begin_*`/`write_*` call).
    pub fn begin_expert(
        &mut self,
        layer: u32,
        expert: u32,
    ) -> Result<ExpertBlobWriter<'_>, FormatError> {
        self.check_nothing_unfinished()?;
        let state = self.layer_mut(layer)?;
        state.check_unwritten(layer, expert)?;
        self.unfinished = Some(format!("expert {expert} of layer {layer}"));
        Ok(ExpertBlobWriter::new(self, layer, expert))
    }

    /// Completes the checkpoint: checks that every begun expert layer has all its blobs, fsyncs
    /// the data files, writes `config.json` from the config unless an extra file of that name
    /// was written, writes `manifest.json` (with `provenance`), and renames `<out>.partial` to
    /// `<out>` (replacing an existing `<out>` when created with `force`). Returns `<out>`.
    pub fn finish(mut self, provenance: serde_json::Value) -> Result<PathBuf, FormatError> {
        self.check_nothing_unfinished()?;
        for (layer, state) in &self.layers {
            state.check_complete(*layer)?;
        }
        if !self.extra_files.iter().any(|f| f.name == "config.json") {
            let text = serde_json::to_vec_pretty(&self.config).expect("a JSON value serializes");
            self.write_extra_file("config.json", &text)?;
        }
        self.dense_file
            .set_len(self.dense_end)
            .map_err(|e| FormatError::io(&self.dense_path, e))?;
        self.dense_file
            .sync_all()
            .map_err(|e| FormatError::io(&self.dense_path, e))?;
        let mut data_files = vec![DataFile {
            name: DENSE_FILE.into(),
            length: self.dense_end,
        }];
        let mut expert_layers = Vec::with_capacity(self.layers.len());
        for state in self.layers.values() {
            state
                .file
                .sync_all()
                .map_err(|e| FormatError::io(&state.path, e))?;
            data_files.push(DataFile {
                name: state.layout.file.clone(),
                length: state.file_length,
            });
            expert_layers.push(state.layout.clone());
        }
        let manifest = Manifest {
            magic: MANIFEST_MAGIC.into(),
            format_version: FORMAT_VERSION,
            checkpoint_id: checkpoint_id_hex(&self.id),
            arch: self.arch.clone(),
            config: self.config.clone(),
            checksum: CHECKSUM_XXH3_64.into(),
            extra_files: self.extra_files.clone(),
            data_files,
            dense: std::mem::take(&mut self.dense),
            expert_layers,
            provenance,
        };
        let manifest_path = self.partial_dir.join(MANIFEST_FILE);
        crate::validate::check_manifest(&manifest_path, &manifest)?;
        let text = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        write_synced(&manifest_path, &text)?;
        sync_dir(&self.partial_dir)?;
        self.move_into_place()?;
        self.finished = true;
        Ok(self.out_dir.clone())
    }

    fn move_into_place(&self) -> Result<(), FormatError> {
        let out = &self.out_dir;
        if out.symlink_metadata().is_ok() {
            if !self.force {
                return Err(FormatError::OutputExists { path: out.clone() });
            }
            let aside = sibling_path(
                out,
                &format!("replaced-{}", &checkpoint_id_hex(&self.id)[..8]),
            )?;
            fs::rename(out, &aside).map_err(|e| FormatError::io(out, e))?;
            fs::rename(&self.partial_dir, out)
                .map_err(|e| FormatError::io(&self.partial_dir, e))?;
            let removed = if aside.is_dir() {
                fs::remove_dir_all(&aside)
            } else {
                fs::remove_file(&aside)
            };
            removed.map_err(|e| FormatError::io(&aside, e))?;
        } else {
            fs::rename(&self.partial_dir, out)
                .map_err(|e| FormatError::io(&self.partial_dir, e))?;
        }
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(())
    }

    fn check_nothing_unfinished(&self) -> Result<(), FormatError> {
        match &self.unfinished {
            Some(what) => Err(FormatError::invalid(
                &self.partial_dir,
                format!("{what} was begun but its writer was dropped without finish()"),
            )),
            None => Ok(()),
        }
    }

    fn layer_mut(&mut self, layer: u32) -> Result<&mut experts::LayerState, FormatError> {
        let path = self
            .partial_dir
            .join(crate::layout::expert_file_name(layer));
        self.layers.get_mut(&layer).ok_or_else(|| {
            FormatError::invalid(path, format!("expert layer {layer} was not begun"))
        })
    }
}

impl Drop for CheckpointWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = fs::remove_dir_all(&self.partial_dir);
        }
    }
}

/// `<out>.partial`, next to `out`.
fn partial_path(out: &Path) -> Result<PathBuf, FormatError> {
    sibling_path(out, "partial")
}

/// `<out>.<suffix>`, next to `out`.
fn sibling_path(out: &Path, suffix: &str) -> Result<PathBuf, FormatError> {
    let name = out
        .file_name()
        .ok_or_else(|| FormatError::invalid(out, "the output path needs a final directory name"))?;
    let mut name = name.to_os_string();
    name.push(".");
    name.push(suffix);
    Ok(out.with_file_name(name))
}

/// A fresh 16-byte id: xxh3-128 of the time, the process id, a per-process random hasher key
/// and the output path.
fn new_checkpoint_id(out: &Path) -> [u8; 16] {
    let mut seed = Vec::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    seed.extend_from_slice(&now.to_le_bytes());
    seed.extend_from_slice(&std::process::id().to_le_bytes());
    let mut random = std::collections::hash_map::RandomState::new().build_hasher();
    random.write_u128(now);
    seed.extend_from_slice(&random.finish().to_le_bytes());
    seed.extend_from_slice(out.as_os_str().as_encoded_bytes());
    xxhash_rust::xxh3::xxh3_128(&seed).to_le_bytes()
}

/// Creates a data file and writes its header.
fn create_data_file(path: &Path, header: DataHeader) -> Result<File, FormatError> {
    use std::os::unix::fs::FileExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| FormatError::io(path, e))?;
    file.write_all_at(&header.encode(), 0)
        .map_err(|e| FormatError::io(path, e))?;
    Ok(file)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), FormatError> {
    use std::io::Write;
    let mut file = File::create(path).map_err(|e| FormatError::io(path, e))?;
    file.write_all(bytes)
        .map_err(|e| FormatError::io(path, e))?;
    file.sync_all().map_err(|e| FormatError::io(path, e))
}

fn sync_dir(dir: &Path) -> Result<(), FormatError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FormatError::io(dir, e))
}
