//! Comparing a backend's results with the reference, failing with a message that locates the
//! first wrong element.

/// Whether `got` is within `tol` of `want` (never when either is NaN).
fn within(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol
}

/// Fails unless `got[i]` is within `tol(i)` of `want[i]` for every `i` of a `cols`-column
/// result (a NaN never is).
pub(crate) fn assert_close(
    case: &str,
    what: &str,
    cols: usize,
    got: &[f32],
    want: &[f64],
    tol: impl Fn(usize) -> f64,
) {
    assert_eq!(
        got.len(),
        want.len(),
        "{case}: {what}: {} values returned, {} expected",
        got.len(),
        want.len()
    );
    let bad: Vec<usize> = (0..got.len())
        .filter(|&i| !within(got[i] as f64, want[i], tol(i)))
        .collect();
    if let Some(&i) = bad.first() {
        panic!(
            "{case}: {what}: {} of {} values outside tolerance; first at [{}, {}]: got {}, reference {}, |diff| {:e} > tolerance {:e}",
            bad.len(),
            got.len(),
            i / cols,
            i % cols,
            got[i],
            want[i],
            (got[i] as f64 - want[i]).abs(),
            tol(i)
        );
    }
}

/// Fails unless `got` and `want` hold the same bits (so NaN sentinels compare equal to
/// themselves).
pub(crate) fn assert_bits(case: &str, what: &str, cols: usize, got: &[f32], want: &[f32]) {
    assert_eq!(
        got.len(),
        want.len(),
        "{case}: {what}: {} values returned, {} expected",
        got.len(),
        want.len()
    );
    if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        panic!(
            "{case}: {what}: value [{}, {}] is {} (bits {:#010x}), expected exactly {} (bits {:#010x})",
            i / cols,
            i % cols,
            got[i],
            got[i].to_bits(),
            want[i],
            want[i].to_bits()
        );
    }
}

/// Unwraps a backend result, failing the case with the backend's error.
pub(crate) fn ok<T>(case: &str, op: &str, result: Result<T, crate::ComputeError>) -> T {
    result.unwrap_or_else(|e| panic!("{case}: the backend failed {op}: {e}"))
}
