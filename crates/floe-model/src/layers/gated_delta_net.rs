//! The GatedDeltaNet token mixer (Qwen3-Next, Qwen3.5): linear attention with a recurrent
//! state instead of a KV cache.
//!
//! `x` is projected to queries, keys and values (`qkv`, the convolution's channels in the order
//! `[q (nk·dk) | k (nk·dk) | v (nv·dv)]`), an output gate `z` (`nv·dv`) and the per-value-head
//! gate inputs `[b | a]` (`2·nv`); `qkv` goes through the causal depthwise convolution (with its
//! rolling state) and SiLU, then the gated delta rule (L2-normalized q and k, q scaled by
//! `1/√dk`, decay `exp(−exp(A_log)·softplus(a + dt_bias))`, `β = sigmoid(b)`, with its state);
//! each value head's output is RMS-normalized (one-centred weight `norm.weight`), multiplied by
//! `silu(z)`, and projected back by `out_proj`.
//!
//! Qwen3.5 stores the projections separately (`in_proj_qkv`, `in_proj_z`, `in_proj_b`,
//! `in_proj_a`), already in this order. Qwen3-Next fuses them into `in_proj_qkvz` and
//! `in_proj_ba`, grouped per key head (`[q_g | k_g | v of the group's value heads | z of them]`
//! and `[b of the group | a of the group]`); their rows are reordered once at load time, byte for
//! byte in any storage format, so both run the same computation.

mod stored_rows;

use bytes::Bytes;
use floe_compute::{Activation, Backend, DeltaRuleSpec, WeightData};
use floe_format::DenseView;
use floe_quant::{QuantFormat, QuantMatrix};

use crate::state::{RecurrentShape, RecurrentState};
use crate::weights::WeightLoader;
use crate::ModelError;

/// The L2-normalization epsilon of queries and keys (transformers' `l2norm`).
const QK_L2_NORM_EPS: f32 = 1e-6;

/// How a checkpoint stores the input projections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectionLayout {
    /// `in_proj_qkv`, `in_proj_z`, `in_proj_b`, `in_proj_a` (Qwen3.5).
    Separate,
    /// `in_proj_qkvz` and `in_proj_ba`, grouped per key head (Qwen3-Next).
    GroupedPerKeyHead,
}

/// The sizes of a GatedDeltaNet layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeltaNetShape {
    /// Residual width.
    pub hidden: usize,
    /// Query/key heads `nk`.
    pub key_heads: usize,
    /// Value heads `nv` (a multiple of `nk`).
    pub value_heads: usize,
    /// Dimensions per query/key head `dk`.
    pub key_dim: usize,
    /// Dimensions per value head `dv`.
    pub value_dim: usize,
    /// Taps of the causal convolution (at least 2).
    pub conv_kernel: usize,
    /// Epsilon of the output RMSNorm.
    pub norm_eps: f32,
}

impl DeltaNetShape {
    fn key_width(&self) -> usize {
        self.key_heads * self.key_dim
    }

    fn value_width(&self) -> usize {
        self.value_heads * self.value_dim
    }

    /// Channels of the convolution: `2·nk·dk + nv·dv`.
    pub fn conv_channels(&self) -> usize {
        2 * self.key_width() + self.value_width()
    }

    /// The operands of the delta rule.
    pub fn delta_rule(&self) -> DeltaRuleSpec {
        DeltaRuleSpec {
            key_heads: self.key_heads,
            value_heads: self.value_heads,
            key_dim: self.key_dim,
            value_dim: self.value_dim,
            scale: (self.key_dim as f32).powf(-0.5),
            qk_l2_norm_eps: Some(QK_L2_NORM_EPS),
        }
    }

    /// The layer's recurrent state: `[conv_kernel − 1, conv_channels]` and the delta rule's.
    pub fn recurrent_shape(&self) -> RecurrentShape {
        RecurrentShape {
            conv: [self.conv_kernel.saturating_sub(1), self.conv_channels()],
            delta: self.delta_rule().state_shape(),
        }
    }
}

/// One GatedDeltaNet layer's weights.
pub struct GatedDeltaNet<B: Backend> {
    shape: DeltaNetShape,
    /// `[conv_channels, hidden]`: `q | k | v`.
    in_proj_qkv: B::Weight,
    /// `[nv·dv, hidden]`.
    in_proj_z: B::Weight,
    /// `[2·nv, hidden]`: `b | a`.
    in_proj_ba: B::Weight,
    /// `[conv_channels, conv_kernel]`.
    conv1d: B::Weight,
    /// `[1, nv]`.
    a_log: B::Tensor,
    /// `[1, nv]`.
    dt_bias: B::Tensor,
    /// `[1, dv]`, one-centred.
    norm: B::Weight,
    /// `[hidden, nv·dv]`.
    out_proj: B::Weight,
}

impl<B: Backend> GatedDeltaNet<B> {
    /// Loads the layer under `prefix` (e.g. `model.layers.0.linear_attn`) from projections in
    /// `layout`, plus `conv1d.weight` (`[C, 1, K]`), `A_log`, `dt_bias` (`[nv]`), `norm.weight`
    /// (`[dv]`) and `out_proj.weight`; every shape is checked against `shape`.
    pub fn load(
        loader: &WeightLoader<'_, B>,
        prefix: &str,
        shape: DeltaNetShape,
        layout: ProjectionLayout,
    ) -> Result<Self, ModelError> {
        let name = |part: &str| format!("{prefix}.{part}");
        let (h, nv) = (shape.hidden, shape.value_heads);
        let projections = match layout {
            ProjectionLayout::Separate => {
                let b = view(loader, &name("in_proj_b.weight"), &[nv, h])?;
                let a = view(loader, &name("in_proj_a.weight"), &[nv, h])?;
                Projections {
                    qkv: loader.matrix(&name("in_proj_qkv.weight"), shape.conv_channels(), h)?,
                    z: loader.matrix(&name("in_proj_z.weight"), shape.value_width(), h)?,
                    ba: concat_rows(loader, &name("in_proj_b.weight + in_proj_a.weight"), &b, &a)?,
                }
            }
            ProjectionLayout::GroupedPerKeyHead => load_grouped(loader, prefix, &shape)?,
        };
        let conv_name = name("conv1d.weight");
        let conv = view(
            loader,
            &conv_name,
            &[shape.conv_channels(), 1, shape.conv_kernel],
        )?;
        Ok(Self {
            shape,
            in_proj_qkv: projections.qkv,
            in_proj_z: projections.z,
            in_proj_ba: projections.ba,
            conv1d: weight(
                loader,
                &conv_name,
                conv.format,
                shape.conv_channels(),
                shape.conv_kernel,
                conv.bytes,
            )?,
            a_log: vector_tensor(loader, &name("A_log"), nv)?,
            dt_bias: vector_tensor(loader, &name("dt_bias"), nv)?,
            norm: loader.vector(&name("norm.weight"), shape.value_dim)?,
            out_proj: loader.matrix(&name("out_proj.weight"), h, shape.value_width())?,
        })
    }

    /// The layer's sizes.
    pub fn shape(&self) -> &DeltaNetShape {
        &self.shape
    }

    /// The layer applied to the already-normalized rows `x` (`[T, hidden]`, the positions right
    /// after those `state` describes), updating `state`; returns `[T, hidden]` (the residual add
    /// is the caller's).
    pub fn forward(
        &self,
        backend: &B,
        x: &B::Tensor,
        state: &mut RecurrentState<B>,
    ) -> Result<B::Tensor, ModelError> {
        let s = &self.shape;
        let [t, _] = backend.shape(x);
        let qkv = backend.matmul(x, &self.in_proj_qkv)?;
        let z = backend.matmul(x, &self.in_proj_z)?;
        let ba = backend.matmul(x, &self.in_proj_ba)?;
        let qkv =
            backend.causal_conv1d(&qkv, &self.conv1d, &mut state.conv, Some(Activation::Silu))?;
        let out = backend.gated_delta_rule(
            &qkv,
            &ba,
            &self.a_log,
            &self.dt_bias,
            &mut state.delta,
            &s.delta_rule(),
        )?;
        let per_head = backend.reshape(out, t * s.value_heads, s.value_dim)?;
        let normed = backend.rms_norm(&per_head, &self.norm, s.norm_eps, 0.0)?;
        let normed = backend.reshape(normed, t, s.value_width())?;
        let gated = backend.swiglu(&z, &normed)?;
        Ok(backend.matmul(&gated, &self.out_proj)?)
    }
}

/// The three input projections in the order the forward pass uses.
struct Projections<B: Backend> {
    qkv: B::Weight,
    z: B::Weight,
    ba: B::Weight,
}

/// Qwen3-Next's `in_proj_qkvz` and `in_proj_ba`, reordered into `qkv`, `z` and `ba` weights.
fn load_grouped<B: Backend>(
    loader: &WeightLoader<'_, B>,
    prefix: &str,
    s: &DeltaNetShape,
) -> Result<Projections<B>, ModelError> {
    let (nk, dk, dv) = (s.key_heads, s.key_dim, s.value_dim);
    let r = s.value_heads / nk;
    let group = 2 * dk + 2 * r * dv;
    let qkvz_name = format!("{prefix}.in_proj_qkvz.weight");
    let ba_name = format!("{prefix}.in_proj_ba.weight");
    let qkvz = view(loader, &qkvz_name, &[nk * group, s.hidden])?;
    let ba = view(loader, &ba_name, &[nk * 2 * r, s.hidden])?;
    // Rows `from .. from + len` of every key head's group, head after head.
    let of_groups = |size: usize, from: usize, len: usize| -> Vec<(usize, usize)> {
        (0..nk)
            .flat_map(|g| (0..len).map(move |i| (0, g * size + from + i)))
            .collect()
    };
    let mut qkv_rows = of_groups(group, 0, dk);
    qkv_rows.extend(of_groups(group, dk, dk));
    qkv_rows.extend(of_groups(group, 2 * dk, r * dv));
    let z_rows = of_groups(group, 2 * dk + r * dv, r * dv);
    let mut ba_rows = of_groups(2 * r, 0, r);
    ba_rows.extend(of_groups(2 * r, r, r));
    let part =
        |v: &DenseView, name: &str, rows: &[(usize, usize)]| -> Result<B::Weight, ModelError> {
            let bytes = stored_rows::gather_rows(&[v], v.format, s.hidden, rows)?;
            weight(
                loader,
                name,
                v.format,
                rows.len(),
                s.hidden,
                Bytes::from(bytes),
            )
        };
    Ok(Projections {
        qkv: part(&qkvz, &format!("{qkvz_name} (q, k, v rows)"), &qkv_rows)?,
        z: part(&qkvz, &format!("{qkvz_name} (z rows)"), &z_rows)?,
        ba: part(&ba, &ba_name, &ba_rows)?,
    })
}

/// `b` then `a` as one `[2·nv, hidden]` weight: byte for byte when they share a format,
/// dequantized to f32 otherwise.
fn concat_rows<B: Backend>(
    loader: &WeightLoader<'_, B>,
    name: &str,
    b: &DenseView,
    a: &DenseView,
) -> Result<B::Weight, ModelError> {
    let (rows, cols) = (b.shape[0], b.shape[1]);
    let picks: Vec<(usize, usize)> = (0..rows)
        .map(|r| (0, r))
        .chain((0..rows).map(|r| (1, r)))
        .collect();
    if a.format == b.format {
        let bytes = stored_rows::gather_rows(&[b, a], b.format, cols, &picks)?;
        return weight(loader, name, b.format, 2 * rows, cols, Bytes::from(bytes));
    }
    let mut values = dequantize(b)?;
    values.extend(dequantize(a)?);
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    weight(
        loader,
        name,
        QuantFormat::F32,
        2 * rows,
        cols,
        Bytes::from(bytes),
    )
}

/// The dense tensor `name`, which must have exactly `shape`.
fn view<B: Backend>(
    loader: &WeightLoader<'_, B>,
    name: &str,
    shape: &[usize],
) -> Result<DenseView, ModelError> {
    let view = loader.checkpoint().dense(name)?;
    if view.shape != shape {
        return Err(ModelError::tensor(
            name,
            format!(
                "expected shape {shape:?} from config.json, found {:?}",
                view.shape
            ),
        ));
    }
    Ok(view)
}

/// `bytes` as a `[rows, cols]` weight in `format` on the loader's backend.
fn weight<B: Backend>(
    loader: &WeightLoader<'_, B>,
    name: &str,
    format: QuantFormat,
    rows: usize,
    cols: usize,
    bytes: Bytes,
) -> Result<B::Weight, ModelError> {
    let expected = format
        .matrix_bytes(rows, cols)
        .map_err(|e| ModelError::tensor(name, e.to_string()))?;
    if bytes.len() != expected {
        return Err(ModelError::tensor(
            name,
            format!(
                "a [{rows}, {cols}] {format} tensor takes {expected} bytes, found {}",
                bytes.len()
            ),
        ));
    }
    loader
        .backend()
        .weight(WeightData {
            format,
            rows,
            cols,
            bytes,
        })
        .map_err(|e| ModelError::tensor(name, e.to_string()))
}

/// The values of a dense tensor (any shape, any format), in f32.
fn dequantize(view: &DenseView) -> Result<Vec<f32>, ModelError> {
    let cols = view.shape.last().copied().unwrap_or(1);
    let rows = view.shape.iter().product::<usize>() / cols.max(1);
    let matrix = QuantMatrix::new(view.format, rows, cols, &view.bytes)
        .map_err(|e| ModelError::tensor(&view.name, e.to_string()))?;
    let mut values = vec![0.0f32; rows * cols];
    matrix.dequantize(&mut values);
    Ok(values)
}

/// The vector `name` of `len` values as a `[1, len]` f32 tensor.
fn vector_tensor<B: Backend>(
    loader: &WeightLoader<'_, B>,
    name: &str,
    len: usize,
) -> Result<B::Tensor, ModelError> {
    let values = dequantize(&view(loader, name, &[len])?)?;
    Ok(loader.backend().upload(&values, 1, len)?)
}
