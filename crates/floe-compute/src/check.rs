//! Operand checks shared by every backend, so that all backends reject the same bad inputs with
//! the same [`ComputeError`]s (the conformance suite checks that they do).
//!
//! Each function takes the shapes (`[rows, cols]`) of an operation's operands and its other
//! arguments, and returns the shape of the result. Tensors always have at least one row and one
//! column.

use crate::{AttentionSpec, ComputeError, RopeSpec, WeightData};

mod recurrent;
mod selected;

pub use recurrent::{causal_conv1d, gated_delta_rule};
pub use selected::{combine_selected, matmul_selected, selected_id, weight_stack};

fn shape(op: &'static str, message: String) -> ComputeError {
    ComputeError::Shape { op, message }
}

fn argument(op: &'static str, message: String) -> ComputeError {
    ComputeError::Argument { op, message }
}

/// Checks that a `[rows, cols]` tensor is non-empty and its element count fits in `usize`;
/// returns the element count.
pub fn tensor(op: &'static str, rows: usize, cols: usize) -> Result<usize, ComputeError> {
    if rows == 0 || cols == 0 {
        return Err(shape(
            op,
            format!(
                "a [{rows}, {cols}] tensor is empty: tensors need at least one row and one column"
            ),
        ));
    }
    rows.checked_mul(cols).ok_or_else(|| {
        shape(
            op,
            format!("a [{rows}, {cols}] tensor has more elements than usize can count"),
        )
    })
}

/// [`crate::Backend::upload`]: `len` values as a `[rows, cols]` tensor.
pub fn upload(len: usize, rows: usize, cols: usize) -> Result<[usize; 2], ComputeError> {
    let elements = tensor("upload", rows, cols)?;
    if len != elements {
        return Err(shape(
            "upload",
            format!("{len} values cannot fill a [{rows}, {cols}] tensor ({elements} values)"),
        ));
    }
    Ok([rows, cols])
}

/// [`crate::Backend::reshape`] of a `from` tensor to `[rows, cols]`.
pub fn reshape(from: [usize; 2], rows: usize, cols: usize) -> Result<[usize; 2], ComputeError> {
    let elements = tensor("reshape", rows, cols)?;
    if elements != from[0] * from[1] {
        return Err(shape(
            "reshape",
            format!("a {from:?} tensor ({} values) cannot be seen as [{rows}, {cols}] ({elements} values)", from[0] * from[1]),
        ));
    }
    Ok([rows, cols])
}

/// [`crate::Backend::slice_cols`]: columns `start .. start + len` of `x`.
pub fn slice_cols(x: [usize; 2], start: usize, len: usize) -> Result<[usize; 2], ComputeError> {
    if len == 0 || start.checked_add(len).is_none_or(|end| end > x[1]) {
        return Err(shape(
            "slice_cols",
            format!(
                "columns {start}..{} are not a non-empty range inside a {x:?} tensor",
                start.saturating_add(len)
            ),
        ));
    }
    Ok([x[0], len])
}

/// [`crate::Backend::weight`]: the shape is storable in the format and the byte count matches.
pub fn weight(data: &WeightData) -> Result<[usize; 2], ComputeError> {
    let (rows, cols, format) = (data.rows, data.cols, data.format);
    tensor("weight", rows, cols)?;
    let expected = format
        .matrix_bytes(rows, cols)
        .map_err(|e| shape("weight", format!("a [{rows}, {cols}] {format} weight: {e}")))?;
    if data.bytes.len() != expected {
        return Err(shape(
            "weight",
            format!(
                "a [{rows}, {cols}] {format} weight takes {expected} bytes, got {}",
                data.bytes.len()
            ),
        ));
    }
    Ok([rows, cols])
}

fn indices(
    op: &'static str,
    what: &str,
    ids: &[u32],
    bound: usize,
    of: &str,
) -> Result<(), ComputeError> {
    if ids.is_empty() {
        return Err(shape(op, format!("no {what} given")));
    }
    if let Some((i, id)) = ids.iter().enumerate().find(|(_, &id)| id as usize >= bound) {
        return Err(shape(
            op,
            format!("{what}[{i}] = {id} is outside {of} ({bound} rows)"),
        ));
    }
    Ok(())
}

/// [`crate::Backend::embed`]: rows `ids` of a `table`.
pub fn embed(table: [usize; 2], ids: &[u32]) -> Result<[usize; 2], ComputeError> {
    indices(
        "embed",
        "ids",
        ids,
        table[0],
        &format!("the {table:?} table"),
    )?;
    Ok([ids.len(), table[1]])
}

/// [`crate::Backend::matmul`]: `x` is `[T, K]`, `w` is `[N, K]`.
pub fn matmul(x: [usize; 2], w: [usize; 2]) -> Result<[usize; 2], ComputeError> {
    if x[1] != w[1] {
        return Err(shape(
            "matmul",
            format!("x is {x:?} and w is {w:?}: x's columns must equal w's columns"),
        ));
    }
    Ok([x[0], w[0]])
}

/// [`crate::Backend::rms_norm`]: `w` is `[1, cols of x]`, `eps` finite and non-negative.
pub fn rms_norm(
    x: [usize; 2],
    w: [usize; 2],
    eps: f32,
    weight_offset: f32,
) -> Result<[usize; 2], ComputeError> {
    norm_operands("rms_norm", x, w, eps, weight_offset)
}

/// [`crate::Backend::add_rms_norm`]: `x` and `delta` of one shape, then as [`rms_norm`].
pub fn add_rms_norm(
    x: [usize; 2],
    delta: [usize; 2],
    w: [usize; 2],
    eps: f32,
    weight_offset: f32,
) -> Result<[usize; 2], ComputeError> {
    same_shape("add_rms_norm", x, delta)?;
    norm_operands("add_rms_norm", x, w, eps, weight_offset)
}

fn norm_operands(
    op: &'static str,
    x: [usize; 2],
    w: [usize; 2],
    eps: f32,
    weight_offset: f32,
) -> Result<[usize; 2], ComputeError> {
    if w != [1, x[1]] {
        return Err(shape(
            op,
            format!("x is {x:?}, so the weight must be [1, {}], got {w:?}", x[1]),
        ));
    }
    if !(eps >= 0.0 && eps.is_finite()) {
        return Err(argument(
            op,
            format!("eps = {eps} must be finite and non-negative"),
        ));
    }
    if !weight_offset.is_finite() {
        return Err(argument(
            op,
            format!("weight_offset = {weight_offset} must be finite"),
        ));
    }
    Ok(x)
}

/// [`crate::Backend::swiglu_packed`]: an even number of columns (gate half, then up half).
pub fn swiglu_packed(x: [usize; 2]) -> Result<[usize; 2], ComputeError> {
    if !x[1].is_multiple_of(2) {
        return Err(shape(
            "swiglu_packed",
            format!("x is {x:?}: its columns must be a gate half and an up half of equal width"),
        ));
    }
    Ok([x[0], x[1] / 2])
}

/// [`crate::Backend::rope`]: one position per row, whole heads, an even `rotary_dim ≤ head_dim`,
/// a positive θ.
pub fn rope(x: [usize; 2], positions: usize, spec: &RopeSpec) -> Result<[usize; 2], ComputeError> {
    rope_operands("rope", x, positions, spec)
}

/// [`crate::Backend::head_norm_rope`]: as [`rope`], and `w` is `[1, head_dim]` with `eps` and
/// `weight_offset` as for [`rms_norm`].
pub fn head_norm_rope(
    x: [usize; 2],
    w: [usize; 2],
    eps: f32,
    weight_offset: f32,
    positions: usize,
    spec: &RopeSpec,
) -> Result<[usize; 2], ComputeError> {
    rope_operands("head_norm_rope", x, positions, spec)?;
    let heads = x[1] / spec.head_dim;
    norm_operands(
        "head_norm_rope",
        [x[0] * heads, spec.head_dim],
        w,
        eps,
        weight_offset,
    )?;
    Ok(x)
}

fn rope_operands(
    op: &'static str,
    x: [usize; 2],
    positions: usize,
    spec: &RopeSpec,
) -> Result<[usize; 2], ComputeError> {
    if positions != x[0] {
        return Err(shape(
            op,
            format!("x is {x:?} but {positions} positions were given (one per row)"),
        ));
    }
    if spec.head_dim == 0 || !x[1].is_multiple_of(spec.head_dim) {
        return Err(shape(
            op,
            format!(
                "x is {x:?}: its columns are not whole heads of {}",
                spec.head_dim
            ),
        ));
    }
    if !spec.rotary_dim.is_multiple_of(2) || spec.rotary_dim > spec.head_dim {
        return Err(shape(
            op,
            format!(
                "rotary_dim = {} must be even and at most head_dim = {}",
                spec.rotary_dim, spec.head_dim
            ),
        ));
    }
    if !(spec.theta > 0.0 && spec.theta.is_finite()) {
        return Err(argument(
            op,
            format!("theta = {} must be positive and finite", spec.theta),
        ));
    }
    Ok(x)
}

/// [`crate::Backend::write_rows`]: `src` fits in `dst` from row `at_row`.
pub fn write_rows(dst: [usize; 2], at_row: usize, src: [usize; 2]) -> Result<(), ComputeError> {
    if src[1] != dst[1] || at_row.checked_add(src[0]).is_none_or(|end| end > dst[0]) {
        return Err(shape(
            "write_rows",
            format!("a {src:?} tensor does not fit into a {dst:?} tensor at row {at_row}"),
        ));
    }
    Ok(())
}

/// [`crate::Backend::qkv_prologue`]: `qkv`'s columns are the q, k and v heads, one position
/// per row, RoPE as [`rope`] on q's heads, norm weights (`[q, k]` shapes) `[1, head_dim]` with
/// `eps` and offset as [`rms_norm`], and caches `n_kv_heads · head_dim` wide with rows
/// `past .. past + T`.
pub fn qkv_prologue<W>(
    qkv: [usize; 2],
    norms: Option<[[usize; 2]; 2]>,
    p: &crate::QkvPrologue<'_, W>,
    k_cache: [usize; 2],
    v_cache: [usize; 2],
) -> Result<[usize; 2], ComputeError> {
    let op = "qkv_prologue";
    let a = &p.attention;
    if a.n_kv_heads == 0 || !a.n_heads.is_multiple_of(a.n_kv_heads) || a.head_dim != p.rope.head_dim
    {
        return Err(shape(
            op,
            format!(
                "{} heads, {} kv heads of {} (RoPE heads of {}): kv heads must divide heads and the head widths agree",
                a.n_heads, a.n_kv_heads, a.head_dim, p.rope.head_dim
            ),
        ));
    }
    let (qw, kvw) = (a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim);
    if qkv[1] != qw + 2 * kvw {
        return Err(shape(
            op,
            format!(
                "qkv is {qkv:?}: {} heads and 2 × {} kv heads of {} take {} columns",
                a.n_heads,
                a.n_kv_heads,
                a.head_dim,
                qw + 2 * kvw
            ),
        ));
    }
    rope_operands(op, [qkv[0], qw], p.positions.len(), &p.rope)?;
    if let Some(shapes) = norms {
        for w in shapes {
            norm_operands(op, [qkv[0], a.head_dim], w, p.norm_eps, p.norm_offset)?;
        }
    }
    for cache in [k_cache, v_cache] {
        if cache[1] != kvw || a.past.checked_add(qkv[0]).is_none_or(|end| end > cache[0]) {
            return Err(shape(
                op,
                format!(
                    "a {cache:?} cache cannot take {} rows of {kvw} columns at row {}",
                    qkv[0], a.past
                ),
            ));
        }
    }
    Ok([qkv[0], qw])
}

/// [`crate::Backend::attention`]: head counts, columns, and `past + T` cached rows.
pub fn attention(
    q: [usize; 2],
    k: [usize; 2],
    v: [usize; 2],
    spec: &AttentionSpec,
) -> Result<[usize; 2], ComputeError> {
    let AttentionSpec {
        n_heads,
        n_kv_heads,
        head_dim,
        past,
        scale,
    } = *spec;
    if n_heads == 0 || n_kv_heads == 0 || head_dim == 0 || !n_heads.is_multiple_of(n_kv_heads) {
        return Err(shape(
            "attention",
            format!("{n_heads} query heads, {n_kv_heads} kv heads of {head_dim}: heads and head_dim must be non-zero and kv heads must divide query heads"),
        ));
    }
    if q[1] != n_heads * head_dim {
        return Err(shape(
            "attention",
            format!(
                "q is {q:?} but {n_heads} heads × {head_dim} need {} columns",
                n_heads * head_dim
            ),
        ));
    }
    let kv_cols = n_kv_heads * head_dim;
    let needed = past.saturating_add(q[0]);
    for (name, cache) in [("k", k), ("v", v)] {
        if cache[1] != kv_cols || cache[0] < needed {
            return Err(shape(
                "attention",
                format!("{name} is {cache:?} but {n_kv_heads} kv heads × {head_dim} and past {past} + {} queries need at least [{needed}, {kv_cols}]", q[0]),
            ));
        }
    }
    if !scale.is_finite() {
        return Err(argument(
            "attention",
            format!("scale = {scale} must be finite"),
        ));
    }
    Ok(q)
}

/// Element-wise operations of two same-shaped tensors (`swiglu`, `add`).
pub fn same_shape(
    op: &'static str,
    a: [usize; 2],
    b: [usize; 2],
) -> Result<[usize; 2], ComputeError> {
    if a != b {
        return Err(shape(
            op,
            format!("the operands are {a:?} and {b:?}: they must have the same shape"),
        ));
    }
    Ok(a)
}

/// [`crate::Backend::mul`]: `b` is `a`'s shape or `[rows of a, 1]`.
pub fn mul(a: [usize; 2], b: [usize; 2]) -> Result<[usize; 2], ComputeError> {
    if b != a && b != [a[0], 1] {
        return Err(shape(
            "mul",
            format!("a is {a:?}, so b must be {a:?} or [{}, 1], got {b:?}", a[0]),
        ));
    }
    Ok(a)
}

/// [`crate::Backend::softmax_topk`]: `1 ≤ k ≤ experts`.
pub fn softmax_topk(logits: [usize; 2], k: usize) -> Result<(), ComputeError> {
    if k == 0 || k > logits[1] {
        return Err(shape(
            "softmax_topk",
            format!(
                "k = {k} must be between 1 and the {} experts of the {logits:?} logits",
                logits[1]
            ),
        ));
    }
    Ok(())
}

/// [`crate::Backend::gather_rows`]: rows `rows` of `x`.
pub fn gather_rows(x: [usize; 2], rows: &[u32]) -> Result<[usize; 2], ComputeError> {
    indices(
        "gather_rows",
        "rows",
        rows,
        x[0],
        &format!("the {x:?} tensor"),
    )?;
    Ok([rows.len(), x[1]])
}

/// [`crate::Backend::scatter_add_rows`]: one destination row and one weight per row of `src`.
pub fn scatter_add_rows(
    acc: [usize; 2],
    src: [usize; 2],
    rows: &[u32],
    weights: usize,
) -> Result<(), ComputeError> {
    if src[1] != acc[1] || rows.len() != src[0] || weights != src[0] {
        return Err(shape(
            "scatter_add_rows",
            format!("src is {src:?} with {} row ids and {weights} weights, acc is {acc:?}: need one id and one weight per src row and equal columns", rows.len()),
        ));
    }
    indices(
        "scatter_add_rows",
        "rows",
        rows,
        acc[0],
        &format!("the {acc:?} accumulator"),
    )
}
