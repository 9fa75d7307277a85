//! Matching the source's tensors against the architecture's schema, and deciding what each
//! output tensor is read from and stored as. Every disagreement is collected and reported at
//! once, naming the tensor and its file.

mod experts;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use floe_quant::{QuantFormat, ScaleType};

use super::config::ModelConfig;
use super::names::{classify, normalise, skip_reason, Kind, Part, Plane};
use super::safetensors::{Dtype, SourceSet, SourceTensor};
use super::schema::{DenseSpec, ExpertSpec, Role, Schema};
use super::ConvertOptions;
use crate::FormatError;

/// The most disagreements listed in one error.
const MAX_ISSUES: usize = 25;

/// A byte range of a source tensor's data.
#[derive(Clone, Debug)]
pub(crate) struct Slice {
    pub tensor: SourceTensor,
    /// Offset from the start of the tensor's data.
    pub offset: u64,
    pub length: u64,
}

impl Slice {
    fn whole(tensor: &SourceTensor) -> Self {
        Slice {
            tensor: tensor.clone(),
            offset: 0,
            length: tensor.length,
        }
    }

    /// Slice `index` of `count` equal consecutive slices of `tensor` (its outer dimension).
    fn nth(tensor: &SourceTensor, index: u64, count: u64) -> Self {
        let length = tensor.length / count;
        Slice {
            tensor: tensor.clone(),
            offset: index * length,
            length,
        }
    }
}

/// Where one `[rows, cols]` matrix (or a float tensor of any shape, as rows of its last
/// dimension) comes from: one float plane, or MLX's weight, scales and biases planes.
#[derive(Clone, Debug)]
pub(crate) struct MatrixSource {
    pub planes: Vec<Slice>,
    /// The stored format of the source bytes.
    pub format: QuantFormat,
    pub rows: usize,
    pub cols: usize,
}

impl MatrixSource {
    /// Source bytes to read.
    pub(crate) fn bytes(&self) -> u64 {
        self.planes.iter().map(|p| p.length).sum()
    }
}

/// A change of values on the way (on top of format conversion).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transform {
    None,
    /// MLX stores zero-centred RMSNorm weights as `1 + w`; floe stores `w` as HF does.
    SubtractOne,
}

/// One dense output tensor.
#[derive(Clone, Debug)]
pub(crate) struct DensePlan {
    pub name: String,
    pub shape: Vec<u64>,
    pub source: MatrixSource,
    pub target: QuantFormat,
    pub transform: Transform,
}

/// One MoE layer's output.
#[derive(Clone, Debug)]
pub(crate) struct LayerPlan {
    pub spec: ExpertSpec,
    /// Storage format of gate, up, down.
    pub targets: [QuantFormat; 3],
    /// Per expert: the sources of gate, up, down.
    pub experts: Vec<[MatrixSource; 3]>,
}

/// What the conversion will do.
pub(crate) struct Plan {
    pub dense: Vec<DensePlan>,
    pub layers: Vec<LayerPlan>,
    /// Stored names left out on purpose, with why.
    pub skipped: Vec<(String, &'static str)>,
    /// Things worth telling the user.
    pub notes: Vec<String>,
    /// Whether the source is an MLX conversion.
    pub mlx: bool,
}

impl Plan {
    /// Source bytes the plan reads.
    pub(crate) fn source_bytes(&self) -> u64 {
        let dense: u64 = self.dense.iter().map(|d| d.source.bytes()).sum();
        let experts: u64 = self
            .layers
            .iter()
            .flat_map(|l| l.experts.iter().flatten())
            .map(MatrixSource::bytes)
            .sum();
        dense + experts
    }

    /// Matches `set` against the schema of `config`.
    pub(crate) fn build(
        src: &Path,
        config: &ModelConfig,
        set: &SourceSet,
        options: &ConvertOptions,
    ) -> Result<Plan, FormatError> {
        let mut b = Builder {
            config,
            set,
            options,
            issues: Vec::new(),
            notes: Vec::new(),
        };
        let mut skipped = Vec::new();
        for unreadable in &set.unreadable {
            match skip_reason(&unreadable.name, &config.source_arch, config.arch) {
                Some(reason) => skipped.push((unreadable.name.clone(), reason)),
                None => b.issue(format!(
                    "tensor '{}' in {} has dtype {}, which floe cannot convert (F32, F16, BF16, and MLX U32 with scales and biases)",
                    unreadable.name,
                    b.file(unreadable.file),
                    unreadable.dtype
                )),
            }
        }
        // Normalised name → stored tensor, experts sorted out by layout.
        let mut dense: BTreeMap<String, &SourceTensor> = BTreeMap::new();
        let mut experts: BTreeMap<u32, LayerPieces> = BTreeMap::new();
        let mut normalised_from: HashMap<String, &str> = HashMap::new();
        for tensor in set.tensors.values() {
            if let Some(reason) = skip_reason(&tensor.name, &config.source_arch, config.arch) {
                skipped.push((tensor.name.clone(), reason));
                continue;
            }
            let name = normalise(&tensor.name, config.arch);
            if let Some(other) = normalised_from.insert(name.clone(), &tensor.name) {
                b.issue(format!(
                    "tensors '{other}' and '{}' are both '{name}'",
                    tensor.name
                ));
                continue;
            }
            match classify(&name) {
                Kind::Dense => {
                    dense.insert(name, tensor);
                }
                Kind::PerExpert {
                    layer,
                    expert,
                    part,
                } => {
                    experts
                        .entry(layer)
                        .or_default()
                        .per_expert
                        .insert((expert, part), tensor);
                }
                Kind::FusedGateUp { layer } => {
                    experts.entry(layer).or_default().gate_up = Some(tensor)
                }
                Kind::FusedDown { layer } => experts.entry(layer).or_default().down = Some(tensor),
                Kind::Stacked { layer, part, plane } => {
                    experts
                        .entry(layer)
                        .or_default()
                        .stacked
                        .insert((part, plane), tensor);
                }
            }
        }
        // An MLX conversion: stacked experts, quantized dense tensors, or conv1d in MLX's
        // [C, K, 1] layout (the test mlx-lm itself uses).
        let mlx = experts.values().any(|p| !p.stacked.is_empty())
            || dense
                .iter()
                .any(|(n, t)| n.ends_with(".weight") && t.dtype == Dtype::U32)
            || dense.iter().any(|(n, t)| {
                n.ends_with("conv1d.weight")
                    && t.shape.len() == 3
                    && t.shape[2] == 1
                    && t.shape[1] > 1
            });

        let schema = Schema::of(config);
        let mut dense_plans = Vec::new();
        for spec in &schema.dense {
            if let Some(plan) = b.dense(spec, &mut dense, mlx) {
                dense_plans.push(plan);
            }
        }
        for tensor in dense.values() {
            b.issue(format!(
                "unexpected tensor '{}' ({} {:?}) in {}: not part of the {} architecture at this config",
                tensor.name,
                tensor.dtype.name(),
                tensor.shape,
                b.file(tensor.file),
                config.arch.name()
            ));
        }
        let mut layer_plans = Vec::new();
        for spec in &schema.experts {
            let pieces = experts.remove(&spec.layer).unwrap_or_default();
            if let Some(plan) = b.layer(spec, pieces) {
                layer_plans.push(plan);
            }
        }
        for (layer, pieces) in experts {
            for tensor in pieces.all() {
                b.issue(format!(
                    "unexpected tensor '{}' in {}: layer {layer} of this model has no routed experts",
                    tensor.name,
                    b.file(tensor.file)
                ));
            }
        }
        if !b.issues.is_empty() {
            let count = b.issues.len();
            let mut message = format!(
                "the tensors do not match the {} architecture as config.json describes it ({count} problem{}):",
                config.arch.name(),
                if count == 1 { "" } else { "s" }
            );
            for issue in b.issues.iter().take(MAX_ISSUES) {
                message.push_str("\n  - ");
                message.push_str(issue);
            }
            if count > MAX_ISSUES {
                message.push_str(&format!("\n  ... and {} more", count - MAX_ISSUES));
            }
            return Err(FormatError::invalid(src, message));
        }
        skipped.sort();
        Ok(Plan {
            dense: dense_plans,
            layers: layer_plans,
            skipped,
            notes: b.notes,
            mlx,
        })
    }
}

/// The expert tensors found for one layer, by layout.
#[derive(Default)]
struct LayerPieces<'a> {
    per_expert: BTreeMap<(u32, Part), &'a SourceTensor>,
    gate_up: Option<&'a SourceTensor>,
    down: Option<&'a SourceTensor>,
    stacked: BTreeMap<(Part, Plane), &'a SourceTensor>,
}

impl<'a> LayerPieces<'a> {
    fn all(&self) -> Vec<&'a SourceTensor> {
        let mut out: Vec<&SourceTensor> = self.per_expert.values().copied().collect();
        out.extend(self.gate_up.iter().chain(self.down.iter()).copied());
        out.extend(self.stacked.values().copied());
        out
    }
}

struct Builder<'a> {
    config: &'a ModelConfig,
    set: &'a SourceSet,
    options: &'a ConvertOptions,
    issues: Vec<String>,
    notes: Vec<String>,
}

fn float_format(dtype: Dtype) -> Option<QuantFormat> {
    match dtype {
        Dtype::F32 => Some(QuantFormat::F32),
        Dtype::F16 => Some(QuantFormat::F16),
        Dtype::Bf16 => Some(QuantFormat::Bf16),
        Dtype::U32 => None,
    }
}

fn scale_type(dtype: Dtype) -> Option<ScaleType> {
    match dtype {
        Dtype::F32 => Some(ScaleType::F32),
        Dtype::F16 => Some(ScaleType::F16),
        Dtype::Bf16 => Some(ScaleType::Bf16),
        Dtype::U32 => None,
    }
}

/// The MLX planes of one quantized matrix (or of a stack of them, `[E, ...]`).
struct MlxMatrix {
    format: QuantFormat,
    /// Logical shape, stack dimension first when stacked.
    shape: Vec<u64>,
}

impl Builder<'_> {
    fn issue(&mut self, message: String) {
        self.issues.push(message);
    }

    fn file(&self, index: usize) -> String {
        let path = self.set.path(index);
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// Reads the format and logical shape of an MLX-quantized matrix from its three tensors.
    fn mlx_matrix(
        &self,
        weight: &SourceTensor,
        scales: &SourceTensor,
        biases: &SourceTensor,
    ) -> Result<MlxMatrix, String> {
        let at = format!("tensor '{}' in {}", weight.name, self.file(weight.file));
        if scales.shape != biases.shape || scales.dtype != biases.dtype {
            return Err(format!(
                "{at}: its scales and biases differ in shape or dtype"
            ));
        }
        let scale = scale_type(scales.dtype).ok_or_else(|| {
            format!(
                "{at}: scales of dtype {} (expected F32, F16 or BF16)",
                scales.dtype.name()
            )
        })?;
        let (ws, ss) = (&weight.shape, &scales.shape);
        if ws.len() < 2 || ws.len() != ss.len() || ws[..ws.len() - 1] != ss[..ss.len() - 1] {
            return Err(format!(
                "{at}: packed shape {ws:?} and scales shape {ss:?} do not fit together"
            ));
        }
        let quant = self.config.quantization.as_ref().ok_or_else(|| {
            format!(
                "{at} is MLX-quantized (U32 with scales) but config.json has no \"quantization\""
            )
        })?;
        let module = weight.name.strip_suffix(".weight").unwrap_or(&weight.name);
        let (bits, group) = quant.params(module).map_err(|e| format!("{at}: {e}"))?;
        let format = QuantFormat::affine(
            u8::try_from(bits).unwrap_or(0),
            u16::try_from(group).unwrap_or(0),
            scale,
        )
        .map_err(|e| format!("{at}: {e}"))?;
        let packed = ws[ws.len() - 1];
        let groups = ss[ss.len() - 1];
        // bits is 2, 4 or 8 here (checked by QuantFormat::affine); shapes come from the file.
        let cols = packed.saturating_mul(32) / bits;
        if packed.saturating_mul(32) % bits != 0 || Some(cols) != groups.checked_mul(group) {
            return Err(format!(
                "{at}: {packed} packed words of {bits}-bit values and {groups} groups of {group} disagree"
            ));
        }
        let mut shape = ws.clone();
        *shape.last_mut().expect("at least 2-D") = cols;
        Ok(MlxMatrix { format, shape })
    }

    fn dense(
        &mut self,
        spec: &DenseSpec,
        found: &mut BTreeMap<String, &SourceTensor>,
        mlx: bool,
    ) -> Option<DensePlan> {
        let Some(tensor) = found.remove(&spec.name) else {
            if !spec.optional {
                self.issue(format!(
                    "missing tensor '{}' (expected shape {:?})",
                    spec.name, spec.shape
                ));
            }
            return None;
        };
        let at = format!("tensor '{}' in {}", tensor.name, self.file(tensor.file));
        let (source, shape) = if tensor.dtype == Dtype::U32 {
            let base = spec
                .name
                .strip_suffix(".weight")
                .unwrap_or(&spec.name)
                .to_string();
            let (Some(scales), Some(biases)) = (
                found.remove(&format!("{base}.scales")),
                found.remove(&format!("{base}.biases")),
            ) else {
                self.issue(format!(
                    "{at} is U32 but has no '{base}.scales' and '{base}.biases' beside it"
                ));
                return None;
            };
            let matrix = match self.mlx_matrix(tensor, scales, biases) {
                Ok(m) => m,
                Err(e) => {
                    self.issue(e);
                    return None;
                }
            };
            if matrix.shape != spec.shape {
                self.issue(format!(
                    "{at} has (unpacked) shape {:?}, expected {:?}",
                    matrix.shape, spec.shape
                ));
                return None;
            }
            let source = MatrixSource {
                planes: vec![
                    Slice::whole(tensor),
                    Slice::whole(scales),
                    Slice::whole(biases),
                ],
                format: matrix.format,
                rows: spec.shape[0] as usize,
                cols: spec.shape[1] as usize,
            };
            (source, matrix.shape)
        } else {
            let format = float_format(tensor.dtype).expect("not U32");
            let conv_mlx = spec.shape.len() == 3
                && spec.shape[1] == 1
                && tensor.shape == [spec.shape[0], spec.shape[2], 1];
            if tensor.shape != spec.shape && !conv_mlx {
                self.issue(format!(
                    "{at} has shape {:?}, expected {:?}",
                    tensor.shape, spec.shape
                ));
                return None;
            }
            if conv_mlx && spec.shape[2] != 1 {
                self.notes.push(format!(
                    "{}: MLX layout [C, K, 1] stored as [C, 1, K] (same bytes)",
                    tensor.name
                ));
            }
            let cols = *spec.shape.last().unwrap_or(&1) as usize;
            let rows = spec.shape.iter().rev().skip(1).product::<u64>() as usize;
            let source = MatrixSource {
                planes: vec![Slice::whole(tensor)],
                format,
                rows,
                cols,
            };
            (source, spec.shape.clone())
        };
        let target = self.dense_target(spec, &source, &at)?;
        let transform = if spec.role == Role::ZeroCentredNorm && mlx {
            Transform::SubtractOne
        } else {
            Transform::None
        };
        Some(DensePlan {
            name: spec.name.clone(),
            shape,
            source,
            target,
            transform,
        })
    }

    fn dense_target(
        &mut self,
        spec: &DenseSpec,
        source: &MatrixSource,
        at: &str,
    ) -> Option<QuantFormat> {
        let requested = self.options.dense_format;
        if source.format.is_quantized() {
            if let Some(f) = requested.filter(|&f| f != source.format) {
                self.issue(format!(
                    "{at} is MLX-quantized as {}; floe copies MLX-quantized tensors as stored and cannot requantize them to {f} (omit --dense-quant)",
                    source.format
                ));
                return None;
            }
            return Some(source.format);
        }
        let quantizable =
            matches!(spec.role, Role::Matmul | Role::Embedding) && spec.shape.len() == 2;
        match requested {
            Some(f) if quantizable => {
                if f.check_shape(source.rows, source.cols).is_ok() {
                    Some(f)
                } else {
                    self.notes.push(format!(
                        "{}: {} columns are not a multiple of {f}'s block of {}; kept as {}",
                        spec.name,
                        source.cols,
                        f.block_values(),
                        source.format
                    ));
                    Some(source.format)
                }
            }
            _ => Some(source.format),
        }
    }

    /// A float matrix `[rows, cols]` read from `slice` of `tensor`; checks the tensor's dtype and,
    /// for a whole tensor, its shape.
    fn float_matrix(
        &mut self,
        tensor: &SourceTensor,
        shape: &[u64; 2],
        slice: Slice,
    ) -> Option<MatrixSource> {
        let at = format!("tensor '{}' in {}", tensor.name, self.file(tensor.file));
        let Some(format) = float_format(tensor.dtype) else {
            self.issue(format!("{at} has dtype U32 without MLX scales and biases"));
            return None;
        };
        if slice.length == tensor.length && tensor.shape != shape {
            self.issue(format!(
                "{at} has shape {:?}, expected {shape:?}",
                tensor.shape
            ));
            return None;
        }
        Some(MatrixSource {
            planes: vec![slice],
            format,
            rows: shape[0] as usize,
            cols: shape[1] as usize,
        })
    }
}
