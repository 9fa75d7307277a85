//! `cargo xtask …`: developer tasks.
fn main() {}
