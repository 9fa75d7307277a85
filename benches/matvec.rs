//! Criterion bench `matvec` (being written).
fn main() {}
