//! Matching one MoE layer's expert tensors, in whichever layout the source uses (per expert,
//! fused `gate_up_proj`/`down_proj`, MLX stacked `switch_mlp`), and choosing their formats.

use floe_quant::QuantFormat;

use super::{float_format, Builder, LayerPieces, LayerPlan, MatrixSource, Slice};
use crate::convert::config::Arch;
use crate::convert::names::{Part, Plane};
use crate::convert::safetensors::Dtype;
use crate::convert::schema::ExpertSpec;

impl Builder<'_> {
    pub(super) fn layer(
        &mut self,
        spec: &ExpertSpec,
        pieces: LayerPieces<'_>,
    ) -> Option<LayerPlan> {
        let layer = spec.layer;
        let layouts = [
            !pieces.per_expert.is_empty(),
            pieces.gate_up.is_some() || pieces.down.is_some(),
            !pieces.stacked.is_empty(),
        ];
        let experts = match layouts.iter().filter(|&&x| x).count() {
            0 => {
                self.issue(format!(
                    "missing experts of layer {layer}: expected {} experts with gate/up [{}, {}] and down [{}, {}] \
                     (as model.layers.{layer}.mlp.experts.E.*_proj.weight, fused mlp.experts.gate_up_proj/down_proj, \
                     or MLX mlp.switch_mlp.*)",
                    spec.experts, spec.intermediate, spec.hidden, spec.hidden, spec.intermediate
                ));
                return None;
            }
            1 if layouts[0] => self.per_expert(spec, &pieces)?,
            1 if layouts[1] => self.fused(spec, &pieces)?,
            1 => self.stacked(spec, &pieces)?,
            _ => {
                self.issue(format!(
                    "layer {layer} mixes expert tensor layouts (per-expert, fused, MLX stacked)"
                ));
                return None;
            }
        };
        let mut targets = [QuantFormat::F32; 3];
        for part in Part::ALL {
            let source = experts[0][part.index()].format;
            let (rows, cols) = (experts[0][part.index()].rows, experts[0][part.index()].cols);
            targets[part.index()] = match self.options.expert_format {
                Some(f) if source.is_quantized() && f != source => {
                    self.issue(format!(
                        "experts of layer {layer} are MLX-quantized as {source}; floe copies them as stored and cannot requantize them to {f} (omit --quant)"
                    ));
                    return None;
                }
                Some(f) => {
                    if let Err(e) = f.check_shape(rows, cols) {
                        self.issue(format!(
                            "experts of layer {layer}, part {}: {e}",
                            part.name()
                        ));
                        return None;
                    }
                    f
                }
                None => source,
            };
        }
        Some(LayerPlan {
            spec: *spec,
            targets,
            experts,
        })
    }

    fn part_shape(spec: &ExpertSpec, part: Part) -> [u64; 2] {
        match part {
            Part::Gate | Part::Up => [spec.intermediate, spec.hidden],
            Part::Down => [spec.hidden, spec.intermediate],
        }
    }

    fn per_expert(
        &mut self,
        spec: &ExpertSpec,
        pieces: &LayerPieces<'_>,
    ) -> Option<Vec<[MatrixSource; 3]>> {
        let layer = spec.layer;
        let mut out = Vec::with_capacity(spec.experts as usize);
        let mut ok = true;
        for (&(expert, _), tensor) in &pieces.per_expert {
            if u64::from(expert) >= spec.experts {
                self.issue(format!(
                    "unexpected tensor '{}' in {}: layer {layer} has {} experts",
                    tensor.name,
                    self.file(tensor.file),
                    spec.experts
                ));
                ok = false;
            }
        }
        for expert in 0..spec.experts as u32 {
            let mut parts = Vec::with_capacity(3);
            for part in Part::ALL {
                let shape = Self::part_shape(spec, part);
                let Some(tensor) = pieces.per_expert.get(&(expert, part)) else {
                    let stored = if self.config.arch == Arch::Mixtral {
                        let w = ["w1", "w3", "w2"][part.index()];
                        format!("model.layers.{layer}.block_sparse_moe.experts.{expert}.{w}.weight")
                    } else {
                        format!(
                            "model.layers.{layer}.mlp.experts.{expert}.{}_proj.weight",
                            part.name()
                        )
                    };
                    self.issue(format!(
                        "missing tensor '{stored}' (expert {expert} of layer {layer}, part {}; expected shape {shape:?})",
                        part.name()
                    ));
                    ok = false;
                    continue;
                };
                if let Some(source) = self.float_matrix(tensor, &shape, Slice::whole(tensor)) {
                    parts.push(source);
                } else {
                    ok = false;
                }
            }
            if let Ok(parts) = <[MatrixSource; 3]>::try_from(parts) {
                out.push(parts);
            }
        }
        ok.then_some(out)
    }

    fn fused(
        &mut self,
        spec: &ExpertSpec,
        pieces: &LayerPieces<'_>,
    ) -> Option<Vec<[MatrixSource; 3]>> {
        let layer = spec.layer;
        let (e, i, h) = (spec.experts, spec.intermediate, spec.hidden);
        let (Some(gate_up), Some(down)) = (pieces.gate_up, pieces.down) else {
            let missing = if pieces.gate_up.is_none() {
                "gate_up_proj"
            } else {
                "down_proj"
            };
            self.issue(format!("missing tensor 'model.layers.{layer}.mlp.experts.{missing}' (fused experts need both gate_up_proj and down_proj)"));
            return None;
        };
        let mut ok = true;
        for (tensor, shape) in [(gate_up, [e, 2 * i, h]), (down, [e, h, i])] {
            if tensor.shape != shape {
                self.issue(format!(
                    "tensor '{}' in {} has shape {:?}, expected {shape:?}",
                    tensor.name,
                    self.file(tensor.file),
                    tensor.shape
                ));
                ok = false;
            } else if float_format(tensor.dtype).is_none() {
                self.issue(format!(
                    "tensor '{}' has dtype {}, expected F32, F16 or BF16",
                    tensor.name,
                    tensor.dtype.name()
                ));
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        let half = gate_up.length / e / 2;
        let out = (0..e)
            .map(|expert| {
                let pair = Slice::nth(gate_up, expert, e);
                let gate = Slice {
                    length: half,
                    ..pair.clone()
                };
                let up = Slice {
                    offset: pair.offset + half,
                    length: half,
                    ..pair
                };
                let format = float_format(gate_up.dtype).expect("checked");
                let matrix = |planes: Vec<Slice>, rows: u64, cols: u64, format| MatrixSource {
                    planes,
                    format,
                    rows: rows as usize,
                    cols: cols as usize,
                };
                [
                    matrix(vec![gate], i, h, format),
                    matrix(vec![up], i, h, format),
                    matrix(
                        vec![Slice::nth(down, expert, e)],
                        h,
                        i,
                        float_format(down.dtype).expect("checked"),
                    ),
                ]
            })
            .collect();
        Some(out)
    }

    fn stacked(
        &mut self,
        spec: &ExpertSpec,
        pieces: &LayerPieces<'_>,
    ) -> Option<Vec<[MatrixSource; 3]>> {
        let layer = spec.layer;
        let e = spec.experts;
        let mut per_part: Vec<Vec<MatrixSource>> = Vec::with_capacity(3);
        for part in Part::ALL {
            let [rows, cols] = Self::part_shape(spec, part);
            let name = |plane: &str| {
                format!(
                    "model.layers.{layer}.mlp.switch_mlp.{}_proj.{plane}",
                    part.name()
                )
            };
            let Some(&weight) = pieces.stacked.get(&(part, Plane::Weight)) else {
                self.issue(format!(
                    "missing tensor '{}' (expected {e} stacked experts)",
                    name("weight")
                ));
                return None;
            };
            let scales = pieces.stacked.get(&(part, Plane::Scales)).copied();
            let biases = pieces.stacked.get(&(part, Plane::Biases)).copied();
            let at = format!("tensor '{}' in {}", weight.name, self.file(weight.file));
            let sources = if weight.dtype == Dtype::U32 {
                let (Some(scales), Some(biases)) = (scales, biases) else {
                    self.issue(format!("{at} is U32 but its scales and biases are missing"));
                    return None;
                };
                let matrix = match self.mlx_matrix(weight, scales, biases) {
                    Ok(m) => m,
                    Err(err) => {
                        self.issue(err);
                        return None;
                    }
                };
                if matrix.shape != [e, rows, cols] {
                    self.issue(format!(
                        "{at} has (unpacked) shape {:?}, expected {:?}",
                        matrix.shape,
                        [e, rows, cols]
                    ));
                    return None;
                }
                (0..e)
                    .map(|x| MatrixSource {
                        planes: vec![
                            Slice::nth(weight, x, e),
                            Slice::nth(scales, x, e),
                            Slice::nth(biases, x, e),
                        ],
                        format: matrix.format,
                        rows: rows as usize,
                        cols: cols as usize,
                    })
                    .collect()
            } else {
                if scales.is_some() || biases.is_some() {
                    self.issue(format!(
                        "{at} is {} but has scales/biases beside it",
                        weight.dtype.name()
                    ));
                    return None;
                }
                if weight.shape != [e, rows, cols] {
                    self.issue(format!(
                        "{at} has shape {:?}, expected {:?}",
                        weight.shape,
                        [e, rows, cols]
                    ));
                    return None;
                }
                let format = float_format(weight.dtype).expect("not U32");
                (0..e)
                    .map(|x| MatrixSource {
                        planes: vec![Slice::nth(weight, x, e)],
                        format,
                        rows: rows as usize,
                        cols: cols as usize,
                    })
                    .collect()
            };
            per_part.push(sources);
        }
        let mut parts = per_part.into_iter();
        let (gate, up, down) = (parts.next()?, parts.next()?, parts.next()?);
        Some(
            gate.into_iter()
                .zip(up)
                .zip(down)
                .map(|((g, u), d)| [g, u, d])
                .collect(),
        )
    }
}
