//! Checking a manifest: first its own consistency (no I/O), then the files it describes.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::layout::{
    blob_stride, is_plain_file_name, parse_checkpoint_id, parse_checksum, tensor_bytes, DataHeader,
    DataKind, DATA_HEADER_LEN, EXPERT_PARTS, MANIFEST_FILE, NO_LAYER, PART_ALIGNMENT,
};
use crate::manifest::{
    ExpertLayer, Manifest, ALIGNMENT, CHECKSUM_XXH3_64, FORMAT_VERSION, MANIFEST_MAGIC,
};
use crate::FormatError;

/// What each data file must be, as the manifest uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileRole {
    /// Dense or experts.
    pub kind: DataKind,
    /// The layer of an expert file, [`NO_LAYER`] for a dense one.
    pub layer: u32,
}

/// Checks everything about `manifest` that needs no file: magic, version, ids, names, offsets,
/// alignment, lengths against formats and shapes, overlaps, expert part layouts. Returns the role
/// of every data file. `manifest_path` is only used to name the file in errors.
pub(crate) fn check_manifest(
    manifest_path: &Path,
    manifest: &Manifest,
) -> Result<HashMap<String, FileRole>, FormatError> {
    let bad = |message: String| FormatError::invalid(manifest_path, message);
    if manifest.magic != MANIFEST_MAGIC {
        return Err(bad(format!(
            "magic is {:?}, expected {MANIFEST_MAGIC:?}: not a floe checkpoint manifest",
            manifest.magic
        )));
    }
    if manifest.format_version != FORMAT_VERSION {
        return Err(bad(format!(
            "format_version {} is not supported (this floe reads version {FORMAT_VERSION})",
            manifest.format_version
        )));
    }
    if manifest.checksum != CHECKSUM_XXH3_64 {
        return Err(bad(format!(
            "checksum algorithm {:?} is not supported (expected {CHECKSUM_XXH3_64:?})",
            manifest.checksum
        )));
    }
    if parse_checkpoint_id(&manifest.checkpoint_id).is_none() {
        return Err(bad(format!(
            "checkpoint_id {:?} is not 32 lowercase hex digits",
            manifest.checkpoint_id
        )));
    }
    if manifest.arch.is_empty() {
        return Err(bad("arch is empty".into()));
    }

    let mut lengths: HashMap<&str, u64> = HashMap::new();
    for file in &manifest.data_files {
        if !is_plain_file_name(&file.name) || file.name == MANIFEST_FILE {
            return Err(bad(format!(
                "data file name {:?} is not a plain file name",
                file.name
            )));
        }
        if file.length < DATA_HEADER_LEN {
            return Err(bad(format!(
                "data file {} has length {}, shorter than its {DATA_HEADER_LEN}-byte header",
                file.name, file.length
            )));
        }
        if lengths.insert(&file.name, file.length).is_some() {
            return Err(bad(format!("data file {} is listed twice", file.name)));
        }
    }

    let mut extra_names = HashSet::new();
    for extra in &manifest.extra_files {
        if !is_plain_file_name(&extra.name) || extra.name == MANIFEST_FILE {
            return Err(bad(format!(
                "extra file name {:?} is not a plain file name",
                extra.name
            )));
        }
        if lengths.contains_key(extra.name.as_str()) || !extra_names.insert(extra.name.as_str()) {
            return Err(bad(format!("extra file {} is listed twice", extra.name)));
        }
        if parse_checksum(&extra.checksum).is_none() {
            return Err(bad(format!(
                "extra file {}: checksum {:?} is not 16 lowercase hex digits",
                extra.name, extra.checksum
            )));
        }
    }

    let mut roles: HashMap<String, FileRole> = HashMap::new();
    check_dense(manifest, &lengths, &mut roles).map_err(bad)?;
    let mut layers = HashSet::new();
    for layer in &manifest.expert_layers {
        if !layers.insert(layer.layer) {
            return Err(bad(format!("expert layer {} is listed twice", layer.layer)));
        }
        if layer.layer == NO_LAYER {
            return Err(bad(format!("expert layer index {NO_LAYER} is reserved")));
        }
        check_expert_layer(layer, &lengths, &mut roles).map_err(bad)?;
    }
    for file in &manifest.data_files {
        if !roles.contains_key(&file.name) {
            return Err(bad(format!(
                "data file {} holds no dense tensor and no expert layer",
                file.name
            )));
        }
    }
    Ok(roles)
}

fn check_dense(
    manifest: &Manifest,
    lengths: &HashMap<&str, u64>,
    roles: &mut HashMap<String, FileRole>,
) -> Result<(), String> {
    let mut names = HashSet::new();
    let mut spans: HashMap<&str, Vec<(u64, u64, &str)>> = HashMap::new();
    for tensor in &manifest.dense {
        let what = format!("dense tensor '{}'", tensor.name);
        if tensor.name.is_empty() {
            return Err("a dense tensor has an empty name".into());
        }
        if !names.insert(tensor.name.as_str()) {
            return Err(format!("{what} is listed twice"));
        }
        let Some(&file_length) = lengths.get(tensor.file.as_str()) else {
            return Err(format!(
                "{what} is in {}, which is not a listed data file",
                tensor.file
            ));
        };
        let role = FileRole {
            kind: DataKind::Dense,
            layer: NO_LAYER,
        };
        if *roles.entry(tensor.file.clone()).or_insert(role) != role {
            return Err(format!("{what}: {} is also an expert file", tensor.file));
        }
        if tensor.offset % ALIGNMENT != 0 || tensor.offset < DATA_HEADER_LEN {
            return Err(format!(
                "{what}: offset {} is not a multiple of {ALIGNMENT} past the header",
                tensor.offset
            ));
        }
        let expected =
            tensor_bytes(tensor.format, &tensor.shape).map_err(|e| format!("{what}: {e}"))?;
        if tensor.length != expected {
            return Err(format!(
                "{what}: length {} but a {:?} {} tensor takes {expected} bytes",
                tensor.length, tensor.shape, tensor.format
            ));
        }
        let end = tensor.offset.saturating_add(tensor.length);
        if end > file_length {
            return Err(format!(
                "{what}: bytes {}..{end} lie past the end of {} ({file_length} bytes)",
                tensor.offset, tensor.file
            ));
        }
        if parse_checksum(&tensor.checksum).is_none() {
            return Err(format!(
                "{what}: checksum {:?} is not 16 lowercase hex digits",
                tensor.checksum
            ));
        }
        spans
            .entry(&tensor.file)
            .or_default()
            .push((tensor.offset, end, &tensor.name));
    }
    for (file, mut list) in spans {
        list.sort_unstable();
        for pair in list.windows(2) {
            if pair[1].0 < pair[0].1 {
                return Err(format!(
                    "dense tensors '{}' and '{}' overlap in {file}",
                    pair[0].2, pair[1].2
                ));
            }
        }
    }
    Ok(())
}

fn check_expert_layer(
    layer: &ExpertLayer,
    lengths: &HashMap<&str, u64>,
    roles: &mut HashMap<String, FileRole>,
) -> Result<(), String> {
    let what = format!("expert layer {}", layer.layer);
    let Some(&file_length) = lengths.get(layer.file.as_str()) else {
        return Err(format!(
            "{what} is in {}, which is not a listed data file",
            layer.file
        ));
    };
    let role = FileRole {
        kind: DataKind::Experts,
        layer: layer.layer,
    };
    if roles.insert(layer.file.clone(), role).is_some() {
        return Err(format!(
            "{what}: {} is already used by another layer or dense tensors",
            layer.file
        ));
    }
    check_parts(layer).map_err(|e| format!("{what}: {e}"))?;
    if layer.blobs.is_empty() {
        return Err(format!("{what} has no experts"));
    }
    // Bounds that keep the arithmetic below from overflowing on a hostile manifest.
    if layer.blob_length > 1 << 48 || layer.blobs.len() > 1 << 24 {
        return Err(format!(
            "{what}: blob_length {} or {} experts is implausibly large",
            layer.blob_length,
            layer.blobs.len()
        ));
    }
    let stride = blob_stride(layer.blob_length);
    for (expert, blob) in layer.blobs.iter().enumerate() {
        let expected = DATA_HEADER_LEN + expert as u64 * stride;
        if blob.offset != expected {
            return Err(format!(
                "{what}, expert {expert}: offset {} but blobs are consecutive from {DATA_HEADER_LEN} \
                 with stride {stride}, so it must be {expected}",
                blob.offset
            ));
        }
        if parse_checksum(&blob.checksum).is_none() {
            return Err(format!(
                "{what}, expert {expert}: checksum {:?} is not 16 lowercase hex digits",
                blob.checksum
            ));
        }
    }
    let needed = DATA_HEADER_LEN + layer.blobs.len() as u64 * stride;
    if file_length != needed {
        return Err(format!(
            "{what}: {} must be {needed} bytes ({} blobs of stride {stride} after the header), \
             the manifest says {file_length}",
            layer.file,
            layer.blobs.len()
        ));
    }
    Ok(())
}

/// Checks a layer's part layout: exactly `gate`, `up`, `down`, each 64-byte aligned, of the
/// length its format and shape need, inside the blob, not overlapping, with gate and up
/// `[I, H]` and down `[H, I]`.
pub(crate) fn check_parts(layer: &ExpertLayer) -> Result<(), String> {
    if layer.blob_length == 0 {
        return Err("blob_length is 0".into());
    }
    let mut by_name = HashMap::new();
    let mut spans = Vec::new();
    for part in &layer.parts {
        if !EXPERT_PARTS.contains(&part.name.as_str()) {
            return Err(format!(
                "unknown part '{}' (expected gate, up and down)",
                part.name
            ));
        }
        if by_name.insert(part.name.as_str(), part).is_some() {
            return Err(format!("part '{}' is listed twice", part.name));
        }
        if part.offset % PART_ALIGNMENT != 0 {
            return Err(format!(
                "part '{}': offset {} is not a multiple of {PART_ALIGNMENT}",
                part.name, part.offset
            ));
        }
        let expected = tensor_bytes(part.format, &[part.rows, part.cols])
            .map_err(|e| format!("part '{}': {e}", part.name))?;
        if part.length != expected {
            return Err(format!(
                "part '{}': length {} but a [{}, {}] {} matrix takes {expected} bytes",
                part.name, part.length, part.rows, part.cols, part.format
            ));
        }
        let end = part.offset.saturating_add(part.length);
        if end > layer.blob_length {
            return Err(format!(
                "part '{}': bytes {}..{end} lie past blob_length {}",
                part.name, part.offset, layer.blob_length
            ));
        }
        spans.push((part.offset, end, part.name.as_str()));
    }
    for name in EXPERT_PARTS {
        if !by_name.contains_key(name) {
            return Err(format!("part '{name}' is missing"));
        }
    }
    spans.sort_unstable();
    for pair in spans.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(format!("parts '{}' and '{}' overlap", pair[0].2, pair[1].2));
        }
    }
    let (gate, up, down) = (by_name["gate"], by_name["up"], by_name["down"]);
    if (gate.rows, gate.cols) != (up.rows, up.cols)
        || (down.rows, down.cols) != (gate.cols, gate.rows)
    {
        return Err(format!(
            "part shapes gate [{}, {}], up [{}, {}], down [{}, {}] do not fit gate = up = [I, H], down = [H, I]",
            gate.rows, gate.cols, up.rows, up.cols, down.rows, down.cols
        ));
    }
    Ok(())
}

/// Checks each data file on disk against the manifest: exact length, header magic, version, kind,
/// layer and checkpoint id.
pub(crate) fn check_data_files(
    dir: &Path,
    manifest: &Manifest,
    roles: &HashMap<String, FileRole>,
) -> Result<(), FormatError> {
    let id = parse_checkpoint_id(&manifest.checkpoint_id).expect("checked by check_manifest");
    for file in &manifest.data_files {
        let path = dir.join(&file.name);
        let mut handle = File::open(&path).map_err(|e| {
            FormatError::invalid(
                &path,
                format!("data file listed in the manifest cannot be opened: {e}"),
            )
        })?;
        let length = handle
            .metadata()
            .map_err(|e| FormatError::io(&path, e))?
            .len();
        if length != file.length {
            return Err(FormatError::invalid(
                &path,
                format!("file is {length} bytes, the manifest says {}", file.length),
            ));
        }
        let mut header = vec![0u8; DATA_HEADER_LEN as usize];
        handle
            .read_exact(&mut header)
            .map_err(|e| FormatError::io(&path, e))?;
        let header = DataHeader::decode(&header).map_err(|e| FormatError::invalid(&path, e))?;
        if header.checkpoint_id != id {
            return Err(FormatError::invalid(
                &path,
                format!(
                    "header checkpoint id {} differs from the manifest's {}: the file belongs to another checkpoint",
                    crate::layout::checkpoint_id_hex(&header.checkpoint_id),
                    manifest.checkpoint_id
                ),
            ));
        }
        let role = roles[&file.name];
        if header.kind != role.kind || header.layer != role.layer {
            return Err(FormatError::invalid(
                &path,
                format!(
                    "header says {:?} file of layer {}, the manifest uses it as {:?} file of layer {}",
                    header.kind, header.layer, role.kind, role.layer
                ),
            ));
        }
    }
    Ok(())
}
