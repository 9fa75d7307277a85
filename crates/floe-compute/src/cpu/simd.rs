//! f32 vector kernels of the CPU backend: blocks of dot products (several rows by several
//! inputs, each input and row loaded once per block) and `y += a·x`. AVX2 + FMA versions on
//! x86-64 (chosen at run time), portable ones everywhere else; the portable ones are the
//! reference the others are tested against.

#[cfg(target_arch = "x86_64")]
mod avx2;

/// The instruction set these kernels run with on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SimdLevel {
    /// x86-64 AVX2 with FMA (also used on AVX-512 CPUs: AVX-512 intrinsics need Rust 1.89, past
    /// the workspace's minimum, and these kernels are not the bottleneck of decode).
    Avx2,
    /// Portable code (vectorized as far as the compilation target allows).
    Portable,
}

impl SimdLevel {
    /// Follows floe-quant's kernels ([`floe_quant::kernels::Isa::active`]: the best this CPU
    /// supports, capped by `FLOE_QUANT_ISA`), so that one setting governs every kernel.
    pub(crate) fn detect() -> Self {
        match floe_quant::kernels::Isa::active() {
            floe_quant::kernels::Isa::Scalar => SimdLevel::Portable,
            _ => SimdLevel::Avx2,
        }
    }
}

/// Portable kernels.
mod portable {
    /// `out[t][r] = Σ_i xs[t][i] · ws[r][i]` over the shortest length.
    pub(super) fn dots<const R: usize, const T: usize>(
        xs: [&[f32]; T],
        ws: [&[f32]; R],
    ) -> [[f32; R]; T] {
        let mut out = [[0.0f32; R]; T];
        for (t, x) in xs.iter().enumerate() {
            for (r, w) in ws.iter().enumerate() {
                // Eight partial sums, as the vector kernels keep.
                let mut acc = [0.0f32; 8];
                let n = x.len().min(w.len());
                for i in 0..n {
                    acc[i % 8] += x[i] * w[i];
                }
                out[t][r] = acc.iter().sum();
            }
        }
        out
    }

    /// `y[i] += a · x[i]`.
    pub(super) fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += a * xi;
        }
    }
}

/// Vector kernels bound to one [`SimdLevel`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Simd {
    level: SimdLevel,
}

impl Simd {
    /// Kernels for the running CPU.
    pub(crate) fn detect() -> Self {
        Self {
            level: SimdLevel::detect(),
        }
    }

    /// `out[t][r] = xs[t] · ws[r]` for `T` inputs and `R` rows (over the shortest length).
    pub(crate) fn dots<const R: usize, const T: usize>(
        self,
        xs: [&[f32]; T],
        ws: [&[f32]; R],
    ) -> [[f32; R]; T] {
        match self.level {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `SimdLevel::Avx2` is only chosen when floe-quant detected AVX2 and FMA.
            SimdLevel::Avx2 => unsafe { avx2::dots(xs, ws) },
            _ => portable::dots(xs, ws),
        }
    }

    /// `a · b` over the shorter length.
    pub(crate) fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        self.dots::<1, 1>([a], [b])[0][0]
    }

    /// `y[i] += a · x[i]`.
    pub(crate) fn axpy(self, y: &mut [f32], a: f32, x: &[f32]) {
        match self.level {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `dots`.
            SimdLevel::Avx2 => unsafe { avx2::axpy(y, a, x) },
            _ => portable::axpy(y, a, x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels() -> Vec<Simd> {
        let mut levels = vec![Simd {
            level: SimdLevel::Portable,
        }];
        if SimdLevel::detect() != SimdLevel::Portable {
            levels.push(Simd {
                level: SimdLevel::detect(),
            });
        }
        levels
    }

    fn exact_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn kernels_match_exact_sums_at_every_level_and_length() {
        for simd in levels() {
            for n in [0, 1, 7, 8, 16, 17, 31, 33, 100] {
                let inputs: Vec<Vec<f32>> = (0..2)
                    .map(|t| (0..n).map(|i| ((i + 3 * t) as f32 * 0.37).sin()).collect())
                    .collect();
                let rows: Vec<Vec<f32>> = (0..4)
                    .map(|r| (0..n).map(|i| ((i + r * 5) as f32 * 0.11).cos()).collect())
                    .collect();
                let got = simd.dots::<4, 2>(
                    [&inputs[0], &inputs[1]],
                    [&rows[0], &rows[1], &rows[2], &rows[3]],
                );
                for t in 0..2 {
                    for r in 0..4 {
                        let want = exact_dot(&inputs[t], &rows[r]);
                        assert!(
                            (got[t][r] as f64 - want).abs() < 1e-5,
                            "{simd:?} dots n={n} [{t}][{r}]"
                        );
                    }
                }
                let one = simd.dot(&inputs[0], &rows[3]);
                assert!(
                    (one as f64 - exact_dot(&inputs[0], &rows[3])).abs() < 1e-5,
                    "{simd:?} dot n={n}"
                );
                let mut y = rows[1].clone();
                simd.axpy(&mut y, 0.5, &inputs[0]);
                for i in 0..n {
                    assert!(
                        (y[i] - (rows[1][i] + 0.5 * inputs[0][i])).abs() < 1e-6,
                        "{simd:?} axpy n={n}"
                    );
                }
            }
        }
    }
}
