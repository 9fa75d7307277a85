//! The source checkpoint's safetensors files: header parsing and positioned reads of tensor
//! data (never mmap, so resident memory stays bounded by the read chunk whatever the model size).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::FormatError;

/// The largest safetensors JSON header accepted (the format's own limit is 100 MB).
const MAX_HEADER_BYTES: u64 = 100 << 20;

/// An element type of a safetensors tensor that the converter reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dtype {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    Bf16,
    /// Unsigned 32-bit words: MLX packed quantized values.
    U32,
}

impl Dtype {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::Bf16,
            "U32" => Dtype::U32,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> u64 {
        match self {
            Dtype::F32 | Dtype::U32 => 4,
            Dtype::F16 | Dtype::Bf16 => 2,
        }
    }

    /// The safetensors name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::Bf16 => "BF16",
            Dtype::U32 => "U32",
        }
    }
}

/// One tensor of a source safetensors file.
#[derive(Clone, Debug)]
pub(crate) struct SourceTensor {
    /// Name as stored.
    pub name: String,
    /// Index of its file in [`SourceSet::files`].
    pub file: usize,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, outermost first.
    pub shape: Vec<u64>,
    /// Absolute byte offset of its data in the file.
    pub offset: u64,
    /// Byte length of its data.
    pub length: u64,
}

/// A tensor stored with an element type the converter does not read (reported by name).
#[derive(Clone, Debug)]
pub(crate) struct UnreadableTensor {
    /// Name as stored.
    pub name: String,
    /// Its safetensors dtype.
    pub dtype: String,
    /// Its file.
    pub file: usize,
}

/// Every safetensors file of a source checkpoint, with all their tensors.
pub(crate) struct SourceSet {
    /// The files, in name order.
    pub files: Vec<(PathBuf, File)>,
    /// Every readable tensor by stored name.
    pub tensors: BTreeMap<String, SourceTensor>,
    /// Tensors of dtypes the converter does not read.
    pub unreadable: Vec<UnreadableTensor>,
}

impl SourceSet {
    /// Opens the safetensors files of `dir`: those named by `model.safetensors.index.json` if it
    /// exists, else `model.safetensors`, else every `*.safetensors` file.
    pub(crate) fn open(dir: &Path) -> Result<Self, FormatError> {
        let index_path = dir.join("model.safetensors.index.json");
        let mut index: Option<HashMap<String, String>> = None;
        let names: Vec<String> = if index_path.exists() {
            let map = read_index(&index_path)?;
            let mut files: Vec<String> = map.values().cloned().collect();
            files.sort();
            files.dedup();
            index = Some(map);
            files
        } else if dir.join("model.safetensors").exists() {
            vec!["model.safetensors".into()]
        } else {
            let entries = std::fs::read_dir(dir).map_err(|e| FormatError::io(dir, e))?;
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| FormatError::io(dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".safetensors") {
                    files.push(name);
                }
            }
            files.sort();
            files
        };
        if names.is_empty() {
            return Err(FormatError::invalid(
                dir,
                "no safetensors weights found (expected model.safetensors, model.safetensors.index.json or *.safetensors)",
            ));
        }
        let mut set = SourceSet {
            files: Vec::new(),
            tensors: BTreeMap::new(),
            unreadable: Vec::new(),
        };
        for name in &names {
            if !crate::layout::is_plain_file_name(name) {
                return Err(FormatError::invalid(
                    &index_path,
                    format!("shard name {name:?} is not a plain file name"),
                ));
            }
            let path = dir.join(name);
            let file = File::open(&path).map_err(|e| FormatError::io(&path, e))?;
            let file_index = set.files.len();
            for entry in parse_header(&path, &file)? {
                match entry {
                    HeaderEntry::Readable(mut tensor) => {
                        tensor.file = file_index;
                        if let Some(previous) = set.tensors.get(&tensor.name) {
                            return Err(FormatError::invalid(
                                &path,
                                format!(
                                    "tensor '{}' is also in {}",
                                    tensor.name,
                                    set.files[previous.file].0.display()
                                ),
                            ));
                        }
                        set.tensors.insert(tensor.name.clone(), tensor);
                    }
                    HeaderEntry::Unreadable { name, dtype } => {
                        set.unreadable.push(UnreadableTensor {
                            name,
                            dtype,
                            file: file_index,
                        });
                    }
                }
            }
            set.files.push((path, file));
        }
        if let Some(index) = index {
            for (tensor, shard) in &index {
                let known = set.tensors.get(tensor).map(|t| t.file).or_else(|| {
                    set.unreadable
                        .iter()
                        .find(|u| &u.name == tensor)
                        .map(|u| u.file)
                });
                match known {
                    Some(file) if set.files[file].0.file_name() == Some(shard.as_ref()) => {}
                    _ => {
                        return Err(FormatError::invalid(
                            &index_path,
                            format!("the weight map puts tensor '{tensor}' in {shard}, whose header does not have it"),
                        ))
                    }
                }
            }
        }
        Ok(set)
    }

    /// The path of file `index`.
    pub(crate) fn path(&self, index: usize) -> &Path {
        &self.files[index].0
    }

    /// Reads `buf.len()` bytes of `tensor` starting `offset` bytes into its data.
    pub(crate) fn read(
        &self,
        tensor: &SourceTensor,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), FormatError> {
        debug_assert!(offset + buf.len() as u64 <= tensor.length);
        let (path, file) = &self.files[tensor.file];
        file.read_exact_at(buf, tensor.offset + offset)
            .map_err(|e| {
                FormatError::invalid(path, format!("reading tensor '{}': {e}", tensor.name))
            })
    }
}

/// Reads `model.safetensors.index.json`'s weight map (tensor name → shard file name).
fn read_index(path: &Path) -> Result<HashMap<String, String>, FormatError> {
    let text = std::fs::read(path).map_err(|e| FormatError::io(path, e))?;
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| FormatError::invalid(path, format!("malformed JSON: {e}")))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| FormatError::invalid(path, "no \"weight_map\" object"))?;
    map.iter()
        .map(|(tensor, shard)| {
            shard
                .as_str()
                .map(|s| (tensor.clone(), s.to_string()))
                .ok_or_else(|| {
                    FormatError::invalid(
                        path,
                        format!("weight_map entry '{tensor}' is not a file name"),
                    )
                })
        })
        .collect()
}

enum HeaderEntry {
    Readable(SourceTensor),
    Unreadable { name: String, dtype: String },
}

/// Parses a safetensors header (u64 LE length, then that many bytes of JSON) and checks every
/// tensor's dtype, shape and data offsets against each other and the file's length.
fn parse_header(path: &Path, file: &File) -> Result<Vec<HeaderEntry>, FormatError> {
    let bad = |m: String| FormatError::invalid(path, format!("corrupt safetensors file: {m}"));
    let file_length = file.metadata().map_err(|e| FormatError::io(path, e))?.len();
    let mut reader = file;
    let mut len_bytes = [0u8; 8];
    reader
        .read_exact(&mut len_bytes)
        .map_err(|_| bad(format!("{file_length} bytes is too short for a header")))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER_BYTES || header_len > file_length - 8 {
        return Err(bad(format!(
            "header length {header_len} does not fit the file's {file_length} bytes"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact_at(&mut header, 8)
        .map_err(|e| FormatError::io(path, e))?;
    let json: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("header is not valid JSON: {e}")))?;
    let object = json
        .as_object()
        .ok_or_else(|| bad("header is not a JSON object".into()))?;
    let data_start = 8 + header_len;
    let data_length = file_length - data_start;
    let mut entries = Vec::with_capacity(object.len());
    let mut spans = Vec::with_capacity(object.len());
    for (name, info) in object {
        if name == "__metadata__" {
            continue;
        }
        let field = |key: &str| {
            info.get(key)
                .ok_or_else(|| bad(format!("tensor '{name}' has no \"{key}\"")))
        };
        let dtype_name = field("dtype")?
            .as_str()
            .ok_or_else(|| bad(format!("tensor '{name}': dtype is not a string")))?
            .to_string();
        let shape: Vec<u64> = field("shape")?
            .as_array()
            .and_then(|dims| {
                dims.iter()
                    .map(|d| d.as_u64())
                    .collect::<Option<Vec<u64>>>()
            })
            .ok_or_else(|| bad(format!("tensor '{name}': shape is not a list of sizes")))?;
        let offsets: Vec<u64> = field("data_offsets")?
            .as_array()
            .and_then(|o| o.iter().map(|d| d.as_u64()).collect::<Option<Vec<u64>>>())
            .filter(|o| o.len() == 2)
            .ok_or_else(|| bad(format!("tensor '{name}': data_offsets is not [begin, end]")))?;
        let (begin, end) = (offsets[0], offsets[1]);
        if begin > end {
            return Err(bad(format!(
                "tensor '{name}': data_offsets [{begin}, {end}] are reversed"
            )));
        }
        if end > data_length {
            return Err(FormatError::invalid(
                path,
                format!(
                    "truncated safetensors file: tensor '{name}' ends at data byte {end} but the file holds only {data_length} data bytes"
                ),
            ));
        }
        spans.push((begin, end, name.clone()));
        match Dtype::parse(&dtype_name) {
            Some(dtype) => {
                let elements = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
                let expected = elements.and_then(|n| n.checked_mul(dtype.size()));
                if expected != Some(end - begin) {
                    return Err(bad(format!(
                        "tensor '{name}': {dtype_name} {shape:?} needs {} bytes, data_offsets give {}",
                        expected.map_or("too many".to_string(), |e| e.to_string()),
                        end - begin
                    )));
                }
                entries.push(HeaderEntry::Readable(SourceTensor {
                    name: name.clone(),
                    file: 0,
                    dtype,
                    shape,
                    offset: data_start + begin,
                    length: end - begin,
                }));
            }
            None => entries.push(HeaderEntry::Unreadable {
                name: name.clone(),
                dtype: dtype_name,
            }),
        }
    }
    spans.sort_unstable();
    for pair in spans.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(bad(format!(
                "tensors '{}' and '{}' overlap",
                pair[0].2, pair[1].2
            )));
        }
    }
    Ok(entries)
}
