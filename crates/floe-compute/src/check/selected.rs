//! Operand checks of the expert-indexed operations ([`crate::Backend::weight_stack`],
//! [`crate::Backend::route_topk`], [`crate::Backend::matmul_selected`],
//! [`crate::Backend::combine_selected`]).

use super::shape;
use crate::{ComputeError, WeightData};

/// [`crate::Backend::weight_stack`]: at least one part, every part a valid weight
/// ([`super::weight`]) of the first part's format and shape; returns `[len, rows, cols]`.
pub fn weight_stack(parts: &[WeightData]) -> Result<[usize; 3], ComputeError> {
    let op = "weight_stack";
    let Some(first) = parts.first() else {
        return Err(shape(op, "a stack needs at least one weight".into()));
    };
    for (i, part) in parts.iter().enumerate() {
        super::weight(part).map_err(|e| shape(op, format!("part {i}: {e}")))?;
        if (part.format, part.rows, part.cols) != (first.format, first.rows, first.cols) {
            return Err(shape(
                op,
                format!(
                    "part {i} is a [{}, {}] {} weight, part 0 a [{}, {}] {}: a stack's parts share one format and shape",
                    part.rows, part.cols, part.format, first.rows, first.cols, first.format
                ),
            ));
        }
    }
    Ok([parts.len(), first.rows, first.cols])
}

/// The `k` of a `[T, 2k]` routing tensor.
fn route_k(op: &'static str, routes: [usize; 2]) -> Result<usize, ComputeError> {
    if !routes[1].is_multiple_of(2) {
        return Err(shape(
            op,
            format!(
                "routes are {routes:?}: a routing tensor has 2k columns (k ids, then k weights)"
            ),
        ));
    }
    Ok(routes[1] / 2)
}

/// [`crate::Backend::matmul_selected`]: `x` is `[T, K]` or `[T·k, K]`, the stack
/// `[n, N, K]`, `routes` `[T, 2k]`; returns `[T·k, N]`.
pub fn matmul_selected(
    x: [usize; 2],
    stack: [usize; 3],
    routes: [usize; 2],
) -> Result<[usize; 2], ComputeError> {
    let op = "matmul_selected";
    let k = route_k(op, routes)?;
    let [_, n, cols] = stack;
    let selected = routes[0] * k;
    if x[0] != routes[0] && x[0] != selected {
        return Err(shape(
            op,
            format!(
                "x is {x:?} and routes {routes:?}: x needs one row per token ({}) or per selection ({selected})",
                routes[0]
            ),
        ));
    }
    if x[1] != cols {
        return Err(shape(
            op,
            format!("x is {x:?} and the stack's weights are [{n}, {cols}]: x's columns must equal the weights' columns"),
        ));
    }
    Ok([selected, n])
}

/// [`crate::Backend::combine_selected`]: `y` is `[T·k, C]`, `routes` `[T, 2k]`; returns `[T, C]`.
pub fn combine_selected(y: [usize; 2], routes: [usize; 2]) -> Result<[usize; 2], ComputeError> {
    let op = "combine_selected";
    let k = route_k(op, routes)?;
    if y[0] != routes[0] * k {
        return Err(shape(
            op,
            format!(
                "y is {y:?} and routes {routes:?}: y needs one row per selection ({})",
                routes[0] * k
            ),
        ));
    }
    Ok([routes[0], y[1]])
}

/// An expert id read from a routing tensor (an f32 holding a small integer) that must name one of
/// a stack's `len` entries.
pub fn selected_id(value: f32, len: usize) -> Result<usize, ComputeError> {
    let id = value as usize;
    if value < 0.0 || value.fract() != 0.0 || id >= len {
        return Err(ComputeError::Argument {
            op: "matmul_selected",
            message: format!("routes name expert {value}, but the stack holds experts 0 .. {len}"),
        });
    }
    Ok(id)
}
