//! The conformance suite every [`crate::Backend`] must pass, written once for all backends.
//!
//! [`crate::backend_conformance_tests!`] expands to one `#[test]` per operation × format × shape
//! case (and one per operation for bad operands). Each case draws fresh random inputs from a
//! seed derived from its name, runs the operation on the backend under test, and compares the
//! result with an f64 reference implementation ([`reference`](mod@reference)) of the operation:
//!
//! * Weights are generated directly in their storage format (random codes, scales and biases),
//!   and the reference reads them with its own f64 decoder ([`formats`]); a quantized matmul is
//!   compared with the f64 product of the *dequantized* weights, so tolerances bound f32
//!   arithmetic, not quantization error.
//! * Tolerances are stated per operation and format in [`tolerance`], relative to the magnitude
//!   of the terms that are summed, so they do not depend on cancellation in the result.
//! * Data movement (upload, reshape, slicing, gathering, copying rows, embedding float tables)
//!   must be bit-exact; rows an in-place operation must not touch are checked bit for bit, and
//!   cache rows attention must not read hold NaN so that reading them poisons the result.
//! * Bad operands must give [`crate::ComputeError::Shape`] (or `Argument` for scalars), not a
//!   panic. A backend that cannot run a case (an unsupported format) fails it, loudly.

pub mod cases;
mod compare;
pub mod formats;
mod macros;
pub mod reference;
pub mod tolerance;

use crate::Backend;

/// A test case: its name, and random inputs seeded by that name.
#[derive(Debug)]
pub struct Case {
    name: &'static str,
    state: u64,
}

impl Case {
    /// A case named `name` (e.g. `matmul_q4::t7_k256_n33`); its inputs are seeded by the name,
    /// so every case gets different inputs and every run the same ones.
    pub fn new(name: &'static str) -> Self {
        // FNV-1a of the name.
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        for b in name.bytes() {
            hash = (hash ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self { name, state: hash }
    }

    /// The case's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The next 64 random bits (SplitMix64).
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform value in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }

    /// A uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `n` uniform values in `[lo, hi)`.
    pub fn values(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// Builds the backend under test from the constructor given to
/// [`crate::backend_conformance_tests!`], failing the test if it cannot be built.
pub fn make_backend<B: Backend, E: std::fmt::Display>(make: impl FnOnce() -> Result<B, E>) -> B {
    match make() {
        Ok(backend) => backend,
        Err(e) => panic!("cannot create the backend under test: {e}"),
    }
}
