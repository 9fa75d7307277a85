//! x86-64 dot-product kernels for AVX-512F (16 f32 lanes), on top of AVX2 + FMA + F16C.
//!
//! Every function here must only be called after [`super::Isa::detect`] found those features.
//! Row slices have the exact lengths of their format (see [`crate::row::Row`]), so every load
//! stays in bounds; loads are unaligned. Dequantization uses the AVX2 kernels (it is bound by
//! the stores, not by the arithmetic).

use std::arch::x86_64::*;

use super::avx2::{by_bits_and_group, f16_to_f32, widen, BATCH};
use crate::convert::f16_bits_to_f32;
use crate::q8_0::{BLOCK, BLOCK_BYTES};
use crate::row::{AffineRow, Row};

/// A row of `n = x.len()` values, 16 at a time through `load(i)` (values `16i..16i+16`), the
/// `n % 16` tail through `scalar(i)`, dotted with `x` using four accumulators.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
unsafe fn dot_lanes(
    x: &[f32],
    load: impl Fn(usize) -> __m512,
    scalar: impl Fn(usize) -> f32,
) -> f32 {
    let n = x.len();
    let xp = x.as_ptr();
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let xv = unsafe { _mm512_loadu_ps(xp.add(i + 16 * k)) };
            *a = _mm512_fmadd_ps(load(i / 16 + k), xv, *a);
        }
        i += 64;
    }
    while i + 16 <= n {
        let xv = unsafe { _mm512_loadu_ps(xp.add(i)) };
        acc[0] = _mm512_fmadd_ps(load(i / 16), xv, acc[0]);
        i += 16;
    }
    let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    let mut total = _mm512_reduce_add_ps(sum);
    for (j, v) in x.iter().enumerate().skip(i) {
        total += scalar(j) * v;
    }
    total
}

/// The dot product of two f32 slices of equal length.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let ap = a.as_ptr();
    unsafe { dot_lanes(b, |i| _mm512_loadu_ps(ap.add(16 * i)), |j| a[j]) }
}

/// The dot product of `row` with `x`; `x_sums`, if given, holds `Σx` over each group of an
/// affine row (otherwise the kernel sums `x` itself).
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) unsafe fn dot(row: Row<'_>, x: &[f32], x_sums: Option<&[f32]>) -> f32 {
    unsafe {
        match row {
            Row::F32(b) => {
                let p = b.as_ptr();
                dot_lanes(
                    x,
                    |i| _mm512_loadu_ps(p.add(64 * i) as *const f32),
                    |j| crate::convert::f32_at(b, j),
                )
            }
            Row::F16(b) => {
                let p = b.as_ptr();
                dot_lanes(
                    x,
                    |i| _mm512_cvtph_ps(_mm256_loadu_si256(p.add(32 * i) as *const __m256i)),
                    |j| f16_bits_to_f32(crate::convert::u16_at(b, j)),
                )
            }
            Row::Bf16(b) => {
                let p = b.as_ptr();
                dot_lanes(
                    x,
                    |i| {
                        let h = _mm256_loadu_si256(p.add(32 * i) as *const __m256i);
                        _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
                    },
                    |j| crate::convert::bf16_bits_to_f32(crate::convert::u16_at(b, j)),
                )
            }
            Row::Q8_0(b) => dot_q8_0(b, x),
            Row::Affine(a) => match x_sums {
                Some(sums) => by_bits_and_group!(a, dot_affine, true)(a, x, sums),
                None => by_bits_and_group!(a, dot_affine, false)(a, x, &[]),
            },
        }
    }
}

/// Sixteen signed bytes at `p`, widened to f32.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
unsafe fn load_i8(p: *const u8) -> __m512 {
    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(unsafe {
        _mm_loadu_si128(p as *const __m128i)
    }))
}

#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn dot_q8_0(b: &[u8], x: &[f32]) -> f32 {
    // q·x of block `k`, times its scale, into `total`.
    let block = |k: usize, total: __m512| {
        // SAFETY: the callers pass `k < blocks`: block `k` lies inside `b` and `x`.
        unsafe {
            let (q, xp) = (b.as_ptr().add(k * BLOCK_BYTES), x.as_ptr().add(k * BLOCK));
            let d = _mm512_set1_ps(f16_to_f32((q as *const u16).read_unaligned()));
            let a = _mm512_mul_ps(load_i8(q.add(2)), _mm512_loadu_ps(xp));
            let a = _mm512_fmadd_ps(load_i8(q.add(18)), _mm512_loadu_ps(xp.add(16)), a);
            _mm512_fmadd_ps(a, d, total)
        }
    };
    let blocks = x.len() / BLOCK;
    // Two accumulators, so that consecutive blocks' multiply-adds overlap.
    let (mut total0, mut total1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let mut k = 0;
    while k + 2 <= blocks {
        total0 = block(k, total0);
        total1 = block(k + 1, total1);
        k += 2;
    }
    if k < blocks {
        total0 = block(k, total0);
    }
    _mm512_reduce_add_ps(_mm512_add_ps(total0, total1))
}

/// The quantized values `16i..16i+16` of a packed affine row, as f32 lanes in order.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
unsafe fn load_q<const BITS: usize>(packed: *const u8, i: usize) -> __m512 {
    // `vpermps` reads only the low 4 bits of each index, so after shifting a field to the bottom
    // of its lane a 16-entry table both masks and converts it: the table is `k` for 4 bits and
    // `k % 4` for 2 bits (whose index also holds 2 bits of the next field).
    match BITS {
        // Sixteen values = two u32 words: lane k takes bits [4(k % 8), 4(k % 8) + 4) of word k / 8.
        4 => {
            let words = unsafe { _mm_loadl_epi64(packed.add(8 * i) as *const __m128i) };
            let pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
            let spread = _mm512_permutexvar_epi32(pick, _mm512_castsi128_si512(words));
            let shifts =
                _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
            let table = _mm512_setr_ps(
                0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0,
                15.0,
            );
            _mm512_permutexvar_ps(_mm512_srlv_epi32(spread, shifts), table)
        }
        // Sixteen values = one u32 word: lane k takes bits [2k, 2k + 2).
        2 => {
            let word = unsafe { (packed.add(4 * i) as *const i32).read_unaligned() };
            let shifts =
                _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let table = _mm512_setr_ps(
                0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0,
            );
            _mm512_permutexvar_ps(_mm512_srlv_epi32(_mm512_set1_epi32(word), shifts), table)
        }
        // Sixteen values = sixteen bytes.
        _ => _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(unsafe {
            _mm_loadu_si128(packed.add(16 * i) as *const __m128i)
        })),
    }
}

/// `Σ_g scale_g · (q·x)_g + bias_g · Σx_g`, with `Σx_g` from `x_sums` if `PREPARED`, else
/// summed here. Two accumulators per group and two across groups, so that the chains of fused
/// multiply-adds overlap.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn dot_affine<const BITS: usize, const GROUP: usize, const PREPARED: bool>(
    a: AffineRow<'_>,
    x: &[f32],
    x_sums: &[f32],
) -> f32 {
    let chunks = GROUP / 16;
    let groups = x.len() / GROUP;
    let packed = a.packed.as_ptr();
    // (q·x, Σx) of group `g`, the latter only if not `PREPARED`.
    let group = |g: usize| {
        // SAFETY: the callers pass `g < groups`, so group `g` lies inside `x` and `packed`.
        let xp = unsafe { x.as_ptr().add(g * GROUP) };
        let mut qx = [_mm512_setzero_ps(); 2];
        let mut xs = [_mm512_setzero_ps(); 2];
        for c in 0..chunks {
            let xv = unsafe { _mm512_loadu_ps(xp.add(16 * c)) };
            let q = unsafe { load_q::<BITS>(packed, g * chunks + c) };
            qx[c % 2] = _mm512_fmadd_ps(q, xv, qx[c % 2]);
            if !PREPARED {
                xs[c % 2] = _mm512_add_ps(xs[c % 2], xv);
            }
        }
        (_mm512_add_ps(qx[0], qx[1]), _mm512_add_ps(xs[0], xs[1]))
    };
    // Two groups at a time into two accumulators, so that their chains overlap.
    let (mut total0, mut total1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let (mut bias0, mut bias1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let mut bias_scalar = 0.0f32;
    let (mut scales, mut biases) = ([0.0f32; BATCH], [0.0f32; BATCH]);
    let mut g0 = 0;
    while g0 < groups {
        let n = BATCH.min(groups - g0);
        widen(a.scale_type, a.scales, g0, n, &mut scales);
        widen(a.scale_type, a.biases, g0, n, &mut biases);
        let mut gi = 0;
        while gi < n {
            let (qx, xs) = group(g0 + gi);
            total0 = _mm512_fmadd_ps(qx, _mm512_set1_ps(scales[gi]), total0);
            if !PREPARED {
                bias0 = _mm512_fmadd_ps(xs, _mm512_set1_ps(biases[gi]), bias0);
            }
            if gi + 1 < n {
                let (qx, xs) = group(g0 + gi + 1);
                total1 = _mm512_fmadd_ps(qx, _mm512_set1_ps(scales[gi + 1]), total1);
                if !PREPARED {
                    bias1 = _mm512_fmadd_ps(xs, _mm512_set1_ps(biases[gi + 1]), bias1);
                }
            }
            gi += 2;
        }
        if PREPARED {
            bias_scalar += unsafe { dot_f32(&biases[..n], &x_sums[g0..g0 + n]) };
        }
        g0 += n;
    }
    let sum = _mm512_add_ps(_mm512_add_ps(total0, total1), _mm512_add_ps(bias0, bias1));
    _mm512_reduce_add_ps(sum) + bias_scalar
}

/// The dot product of a 4-bit affine row with `x_split`, its input in nibble-split order of
/// unit 32 (see [`crate::prepared::nibble_split`]), and `x_sums`, the per-group sums of the
/// input.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) unsafe fn dot_affine4_split(a: AffineRow<'_>, x_split: &[f32], x_sums: &[f32]) -> f32 {
    debug_assert_eq!(a.bits, 4);
    unsafe {
        match a.group {
            32 => dot_affine4_split_group::<32>(a, x_split, x_sums),
            64 => dot_affine4_split_group::<64>(a, x_split, x_sums),
            _ => dot_affine4_split_group::<128>(a, x_split, x_sums),
        }
    }
}

/// [`dot_affine4_split`] for groups of `GROUP` values: per 16 packed bytes (32 values), one
/// widening load, a mask for the low nibbles (values `2j`) and a shift for the high ones
/// (`2j + 1`), two conversions and two fused multiply-adds against the split input.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn dot_affine4_split_group<const GROUP: usize>(
    a: AffineRow<'_>,
    x_split: &[f32],
    x_sums: &[f32],
) -> f32 {
    let units = GROUP / 32;
    let groups = x_split.len() / GROUP;
    let packed = a.packed.as_ptr();
    let nibbles = _mm512_setr_ps(
        0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
    );
    let group = |g: usize| {
        // SAFETY: the callers pass `g < groups`, so group `g` lies inside `x_split` (GROUP
        // values) and `packed` (GROUP / 2 bytes).
        let (xp, qp) = unsafe { (x_split.as_ptr().add(g * GROUP), packed.add(g * GROUP / 2)) };
        // One accumulator for the low nibbles, one for the high: chains of `units` FMAs.
        let (mut even_qx, mut odd_qx) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        for u in 0..units {
            let bytes =
                _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(qp.add(16 * u) as *const __m128i) });
            // `vpermps` reads only the low 4 bits of each index: a 16-entry table lookup
            // converts a nibble to f32 without masking it.
            let even = _mm512_permutexvar_ps(bytes, nibbles);
            let odd = _mm512_permutexvar_ps(_mm512_srli_epi32::<4>(bytes), nibbles);
            even_qx = _mm512_fmadd_ps(even, unsafe { _mm512_loadu_ps(xp.add(32 * u)) }, even_qx);
            odd_qx = _mm512_fmadd_ps(odd, unsafe { _mm512_loadu_ps(xp.add(32 * u + 16)) }, odd_qx);
        }
        _mm512_add_ps(even_qx, odd_qx)
    };
    let (mut total0, mut total1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let mut bias_sum = 0.0f32;
    let (mut scales, mut biases) = ([0.0f32; BATCH], [0.0f32; BATCH]);
    let mut g0 = 0;
    while g0 < groups {
        let n = BATCH.min(groups - g0);
        widen(a.scale_type, a.scales, g0, n, &mut scales);
        widen(a.scale_type, a.biases, g0, n, &mut biases);
        let mut gi = 0;
        while gi < n {
            total0 = _mm512_fmadd_ps(group(g0 + gi), _mm512_set1_ps(scales[gi]), total0);
            if gi + 1 < n {
                total1 =
                    _mm512_fmadd_ps(group(g0 + gi + 1), _mm512_set1_ps(scales[gi + 1]), total1);
            }
            gi += 2;
        }
        bias_sum += unsafe { dot_f32(&biases[..n], &x_sums[g0..g0 + n]) };
        g0 += n;
    }
    _mm512_reduce_add_ps(_mm512_add_ps(total0, total1)) + bias_sum
}
