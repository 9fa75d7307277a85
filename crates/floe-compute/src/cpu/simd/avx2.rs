//! AVX2 + FMA versions of the portable kernels in [`super`]. Every function requires a CPU with
//! AVX2 and FMA.

use std::arch::x86_64::*;

/// The sum of the eight lanes of `v`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

/// `out[t][r] = xs[t] · ws[r]` over the shortest length: each step loads `R` row vectors and
/// `T` input vectors for `R · T` fused multiply-adds.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dots<const R: usize, const T: usize>(
    xs: [&[f32]; T],
    ws: [&[f32]; R],
) -> [[f32; R]; T] {
    let n = xs
        .iter()
        .chain(ws.iter())
        .fold(usize::MAX, |n, s| n.min(s.len()));
    if R * T == 1 {
        let mut out = [[0.0f32; R]; T];
        out[0][0] = dot(xs[0], ws[0], n);
        return out;
    }
    let full = n / 8 * 8;
    let mut acc = [[_mm256_setzero_ps(); R]; T];
    let mut i = 0;
    while i < full {
        let mut wv = [_mm256_setzero_ps(); R];
        for r in 0..R {
            // SAFETY: `i + 8 <= n`, no longer than any slice.
            wv[r] = _mm256_loadu_ps(ws[r].as_ptr().add(i));
        }
        for t in 0..T {
            // SAFETY: as above.
            let xv = _mm256_loadu_ps(xs[t].as_ptr().add(i));
            for r in 0..R {
                acc[t][r] = _mm256_fmadd_ps(xv, wv[r], acc[t][r]);
            }
        }
        i += 8;
    }
    let mut out = [[0.0f32; R]; T];
    for t in 0..T {
        for r in 0..R {
            let tail: f32 = (full..n).map(|j| xs[t][j] * ws[r][j]).sum();
            out[t][r] = hsum(acc[t][r]) + tail;
        }
    }
    out
}

/// `a · b` over the first `n` values, with four accumulators to hide the FMA latency.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot(a: &[f32], b: &[f32], n: usize) -> f32 {
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `i + 32 <= n`.
            let (x, y) = (
                _mm256_loadu_ps(a.as_ptr().add(i + 8 * k)),
                _mm256_loadu_ps(b.as_ptr().add(i + 8 * k)),
            );
            *acc = _mm256_fmadd_ps(x, y, *acc);
        }
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`.
        acc[0] = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.as_ptr().add(i)),
            _mm256_loadu_ps(b.as_ptr().add(i)),
            acc[0],
        );
        i += 8;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let tail: f32 = a[i..].iter().zip(&b[i..]).map(|(x, y)| x * y).sum();
    hsum(sum) + tail
}

/// `y[i] += a · x[i]`.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let av = _mm256_set1_ps(a);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`, no longer than either slice.
        let p = y.as_mut_ptr().add(i);
        _mm256_storeu_ps(
            p,
            _mm256_fmadd_ps(av, _mm256_loadu_ps(x.as_ptr().add(i)), _mm256_loadu_ps(p)),
        );
        i += 8;
    }
    for (yi, xi) in y[i..n].iter_mut().zip(&x[i..n]) {
        *yi = a.mul_add(*xi, *yi);
    }
}
