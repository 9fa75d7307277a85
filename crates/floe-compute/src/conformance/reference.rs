//! The f64 reference implementation of every [`crate::Backend`] operation, written for clarity
//! (plain loops, no shortcuts) on row-major `[rows, cols]` matrices of f64.

use crate::{AttentionSpec, RopeSpec};

mod recurrent;

pub use recurrent::{activate, causal_conv1d, gated_delta_rule, softplus, DeltaRuleResult};

/// A row-major f64 matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Mat {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows · cols` values.
    pub data: Vec<f64>,
}

impl Mat {
    /// A matrix holding `data`.
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "reference matrix data does not fit its shape"
        );
        Self { rows, cols, data }
    }

    /// The f64 values of f32 data.
    pub fn from_f32(rows: usize, cols: usize, data: &[f32]) -> Self {
        Self::new(rows, cols, data.iter().map(|&v| v as f64).collect())
    }

    /// Element `[r, c]`.
    pub fn at(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> &[f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// `x · wᵀ` (`x` `[T, K]`, `w` `[N, K]`).
pub fn matmul(x: &Mat, w: &Mat) -> Mat {
    let mut out = Vec::with_capacity(x.rows * w.rows);
    for t in 0..x.rows {
        for n in 0..w.rows {
            out.push((0..x.cols).map(|k| x.at(t, k) * w.at(n, k)).sum());
        }
    }
    Mat::new(x.rows, w.rows, out)
}

/// RMSNorm of each row with weight `w` (`cols` values).
pub fn rms_norm(x: &Mat, w: &[f64], eps: f64, weight_offset: f64) -> Mat {
    let mut out = Vec::with_capacity(x.data.len());
    for r in 0..x.rows {
        let row = x.row(r);
        let mean_square = row.iter().map(|v| v * v).sum::<f64>() / x.cols as f64;
        let inv = 1.0 / (mean_square + eps).sqrt();
        out.extend(
            row.iter()
                .zip(w)
                .map(|(v, w)| v * inv * (weight_offset + w)),
        );
    }
    Mat::new(x.rows, x.cols, out)
}

/// The pairs of in-head dimensions RoPE rotates together, and the frequency index of each.
pub fn rope_pairs(spec: &RopeSpec) -> Vec<(usize, usize, usize)> {
    let half = spec.rotary_dim / 2;
    (0..half)
        .map(|i| {
            if spec.interleaved {
                (2 * i, 2 * i + 1, i)
            } else {
                (i, i + half, i)
            }
        })
        .collect()
}

/// Rotary embedding of each head of each row, row `t` at `positions[t]`.
pub fn rope(x: &Mat, positions: &[u32], spec: &RopeSpec) -> Mat {
    let mut out = x.clone();
    for (t, &pos) in positions.iter().enumerate() {
        for head in 0..x.cols / spec.head_dim {
            let base = t * x.cols + head * spec.head_dim;
            for (a, b, i) in rope_pairs(spec) {
                let freq = (spec.theta as f64).powf(-2.0 * i as f64 / spec.rotary_dim as f64);
                let (sin, cos) = (pos as f64 * freq).sin_cos();
                let (xa, xb) = (x.data[base + a], x.data[base + b]);
                out.data[base + a] = xa * cos - xb * sin;
                out.data[base + b] = xb * cos + xa * sin;
            }
        }
    }
    out
}

/// Causal grouped-query attention of `q` over the caches `k`, `v`.
pub fn attention(q: &Mat, k: &Mat, v: &Mat, spec: &AttentionSpec) -> Mat {
    let d = spec.head_dim;
    let group = spec.n_heads / spec.n_kv_heads;
    let mut out = vec![0.0; q.rows * q.cols];
    for t in 0..q.rows {
        for h in 0..spec.n_heads {
            let kv = (h / group) * d;
            let visible = spec.past + t + 1;
            let scores: Vec<f64> = (0..visible)
                .map(|s| {
                    (0..d)
                        .map(|i| q.at(t, h * d + i) * k.at(s, kv + i))
                        .sum::<f64>()
                        * spec.scale as f64
                })
                .collect();
            let probs = softmax(&scores);
            for i in 0..d {
                out[t * q.cols + h * d + i] =
                    (0..visible).map(|s| probs[s] * v.at(s, kv + i)).sum();
            }
        }
    }
    Mat::new(q.rows, q.cols, out)
}

/// A numerically stable softmax.
pub fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// `1 / (1 + e^-x)`.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `x · sigmoid(x)`.
pub fn silu(x: f64) -> f64 {
    x * sigmoid(x)
}

/// The router: per row, the `k` most probable experts (ties: lower id first) and their
/// probabilities, divided by their sum when `renormalize`.
pub fn softmax_topk(logits: &Mat, k: usize, renormalize: bool) -> Vec<(Vec<u32>, Vec<f64>)> {
    (0..logits.rows)
        .map(|r| {
            let probs = softmax(logits.row(r));
            let mut ids: Vec<u32> = (0..logits.cols as u32).collect();
            ids.sort_by(|&a, &b| {
                probs[b as usize]
                    .total_cmp(&probs[a as usize])
                    .then(a.cmp(&b))
            });
            ids.truncate(k);
            let mut weights: Vec<f64> = ids.iter().map(|&e| probs[e as usize]).collect();
            if renormalize {
                let total: f64 = weights.iter().sum();
                weights.iter_mut().for_each(|w| *w /= total);
            }
            (ids, weights)
        })
        .collect()
}

/// `acc[rows[i]] += weights[i] · src[i]`, in order.
pub fn scatter_add_rows(acc: &mut Mat, src: &Mat, rows: &[u32], weights: &[f64]) {
    for (i, (&r, &w)) in rows.iter().zip(weights).enumerate() {
        for c in 0..acc.cols {
            acc.data[r as usize * acc.cols + c] += w * src.at(i, c);
        }
    }
}

/// `a + b`.
pub fn add(a: &Mat, b: &Mat) -> Mat {
    Mat::new(
        a.rows,
        a.cols,
        a.data.iter().zip(&b.data).map(|(x, y)| x + y).collect(),
    )
}

/// `a · b`, `b` of `a`'s shape or `[rows, 1]`.
pub fn mul(a: &Mat, b: &Mat) -> Mat {
    let data = (0..a.data.len())
        .map(|i| {
            a.data[i]
                * if b.cols == a.cols {
                    b.data[i]
                } else {
                    b.data[i / a.cols]
                }
        })
        .collect();
    Mat::new(a.rows, a.cols, data)
}

/// `silu(gate) · up`.
pub fn swiglu(gate: &Mat, up: &Mat) -> Mat {
    Mat::new(
        gate.rows,
        gate.cols,
        gate.data
            .iter()
            .zip(&up.data)
            .map(|(g, u)| silu(*g) * u)
            .collect(),
    )
}

/// Rows `rows` of `x`.
pub fn gather_rows(x: &Mat, rows: &[u32]) -> Mat {
    Mat::new(
        rows.len(),
        x.cols,
        rows.iter()
            .flat_map(|&r| x.row(r as usize).to_vec())
            .collect(),
    )
}

/// Columns `start .. start + len` of `x`.
pub fn slice_cols(x: &Mat, start: usize, len: usize) -> Mat {
    Mat::new(
        x.rows,
        len,
        (0..x.rows)
            .flat_map(|r| x.row(r)[start..start + len].to_vec())
            .collect(),
    )
}

/// `dst` with rows `at_row ..` replaced by `src`.
pub fn write_rows(dst: &mut Mat, at_row: usize, src: &Mat) {
    dst.data[at_row * dst.cols..(at_row + src.rows) * dst.cols].copy_from_slice(&src.data);
}
