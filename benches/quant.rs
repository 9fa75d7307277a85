//! Criterion bench `quant` (being written).
fn main() {}
