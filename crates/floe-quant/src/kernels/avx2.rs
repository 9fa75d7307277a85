//! x86-64 kernels for AVX2 + FMA + F16C (8 f32 lanes).
//!
//! Every function here must only be called after [`super::Isa::detect`] found those features.
//! Row slices have the exact lengths of their format (see [`crate::row::Row`]), so every load
//! stays in bounds; loads are unaligned.

use std::arch::x86_64::*;

use crate::convert::f16_bits_to_f32;
use crate::q8_0::{BLOCK, BLOCK_BYTES};
use crate::row::{AffineRow, Row};
use crate::ScaleType;

/// Sum of the eight lanes.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Eight f32 widened from the eight bf16 at `p`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn load_bf16(p: *const u8) -> __m256 {
    let h = unsafe { _mm_loadu_si128(p as *const __m128i) };
    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
}

/// Eight f32 widened from the eight f16 at `p`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load_f16(p: *const u8) -> __m256 {
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(p as *const __m128i) })
}

/// A row of `n = x.len()` values, 8 at a time through `load(i)` (values `8i..8i+8`) and the
/// `n % 8` tail through `scalar(i)`, dotted with `x` using four accumulators.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot_lanes(
    x: &[f32],
    load: impl Fn(usize) -> __m256,
    scalar: impl Fn(usize) -> f32,
) -> f32 {
    let n = x.len();
    let xp = x.as_ptr();
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let xv = unsafe { _mm256_loadu_ps(xp.add(i + 8 * k)) };
            *a = _mm256_fmadd_ps(load(i / 8 + k), xv, *a);
        }
        i += 32;
    }
    while i + 8 <= n {
        let xv = unsafe { _mm256_loadu_ps(xp.add(i)) };
        acc[0] = _mm256_fmadd_ps(load(i / 8), xv, acc[0]);
        i += 8;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut total = hsum(sum);
    for (j, v) in x.iter().enumerate().skip(i) {
        total += scalar(j) * v;
    }
    total
}

/// The dot product of two f32 slices of equal length.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let ap = a.as_ptr();
    unsafe { dot_lanes(b, |i| _mm256_loadu_ps(ap.add(8 * i)), |j| a[j]) }
}

/// The sum of `x`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn sum_f32(x: &[f32]) -> f32 {
    let p = x.as_ptr();
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 16 <= x.len() {
        acc[0] = _mm256_add_ps(acc[0], unsafe { _mm256_loadu_ps(p.add(i)) });
        acc[1] = _mm256_add_ps(acc[1], unsafe { _mm256_loadu_ps(p.add(i + 8)) });
        i += 16;
    }
    let mut total = hsum(_mm256_add_ps(acc[0], acc[1]));
    for v in &x[i..] {
        total += v;
    }
    total
}

/// The dot product of `row` with `x`; `x_sums`, if given, holds `Σx` over each group of an
/// affine row (otherwise the kernel sums `x` itself).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot(row: Row<'_>, x: &[f32], x_sums: Option<&[f32]>) -> f32 {
    unsafe {
        match row {
            Row::F32(b) => {
                let p = b.as_ptr();
                dot_lanes(
                    x,
                    |i| _mm256_loadu_ps(p.add(32 * i) as *const f32),
                    |j| crate::convert::f32_at(b, j),
                )
            }
            Row::F16(b) => {
                let p = b.as_ptr();
                dot_lanes(
                    x,
                    |i| load_f16(p.add(16 * i)),
                    |j| f16_bits_to_f32(crate::convert::u16_at(b, j)),
                )
            }
            Row::Bf16(b) => {
                let p = b.as_ptr();
                dot_lanes(
                    x,
                    |i| load_bf16(p.add(16 * i)),
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

/// Eight signed bytes at `p`, widened to f32.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn load_i8(p: *const u8) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(unsafe {
        _mm_loadl_epi64(p as *const __m128i)
    }))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_q8_0(b: &[u8], x: &[f32]) -> f32 {
    // q·x of block `k`, times its scale, into `total`.
    let block = |k: usize, total: __m256| {
        // SAFETY: the callers pass `k < blocks`: block `k` lies inside `b` and `x`.
        unsafe {
            let (q, xp) = (b.as_ptr().add(k * BLOCK_BYTES), x.as_ptr().add(k * BLOCK));
            let d = _mm256_set1_ps(f16_to_f32((q as *const u16).read_unaligned()));
            let a0 = _mm256_mul_ps(load_i8(q.add(2)), _mm256_loadu_ps(xp));
            let a1 = _mm256_mul_ps(load_i8(q.add(10)), _mm256_loadu_ps(xp.add(8)));
            let a0 = _mm256_fmadd_ps(load_i8(q.add(18)), _mm256_loadu_ps(xp.add(16)), a0);
            let a1 = _mm256_fmadd_ps(load_i8(q.add(26)), _mm256_loadu_ps(xp.add(24)), a1);
            _mm256_fmadd_ps(_mm256_add_ps(a0, a1), d, total)
        }
    };
    let blocks = x.len() / BLOCK;
    // Two accumulators, so that consecutive blocks' multiply-adds overlap.
    let (mut total0, mut total1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut k = 0;
    while k + 2 <= blocks {
        total0 = block(k, total0);
        total1 = block(k + 1, total1);
        k += 2;
    }
    if k < blocks {
        total0 = block(k, total0);
    }
    hsum(_mm256_add_ps(total0, total1))
}

/// The quantized values `8i..8i+8` of a packed affine row, as f32 lanes in order.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn load_q<const BITS: usize>(packed: *const u8, i: usize) -> __m256 {
    let q = match BITS {
        // Eight values = one u32 word: lane k takes bits [4k, 4k + 4).
        4 => {
            let word = unsafe { (packed.add(4 * i) as *const i32).read_unaligned() };
            let shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
            _mm256_and_si256(
                _mm256_srlv_epi32(_mm256_set1_epi32(word), shifts),
                _mm256_set1_epi32(0xF),
            )
        }
        // Eight values = half a u32 word, i.e. the little-endian u16 at byte 2i.
        2 => {
            let half = unsafe { (packed.add(2 * i) as *const u16).read_unaligned() };
            let shifts = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
            _mm256_and_si256(
                _mm256_srlv_epi32(_mm256_set1_epi32(half as i32), shifts),
                _mm256_set1_epi32(0x3),
            )
        }
        // Eight values = eight bytes.
        _ => _mm256_cvtepu8_epi32(unsafe { _mm_loadl_epi64(packed.add(8 * i) as *const __m128i) }),
    };
    _mm256_cvtepi32_ps(q)
}

/// Groups whose scales and biases are widened to f32 at a time.
pub(super) const BATCH: usize = 32;

/// One f16 (bits) widened to f32 with F16C.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn f16_to_f32(bits: u16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// Widens elements `start..start + n` (`n ≤ BATCH`) of a little-endian array of `ty` values
/// into `out[..n]`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn widen(ty: ScaleType, bytes: &[u8], start: usize, n: usize, out: &mut [f32; BATCH]) {
    let size = ty.size();
    let src = &bytes[start * size..(start + n) * size];
    let (sp, op) = (src.as_ptr(), out.as_mut_ptr());
    let mut i = 0;
    // SAFETY: `src` holds `n` values and `out` `BATCH ≥ n`; every access below is `< n`.
    unsafe {
        match ty {
            ScaleType::F32 => std::ptr::copy_nonoverlapping(sp, op as *mut u8, 4 * n),
            ScaleType::F16 => {
                while i + 8 <= n {
                    _mm256_storeu_ps(op.add(i), load_f16(sp.add(2 * i)));
                    i += 8;
                }
                for j in i..n {
                    *op.add(j) = f16_to_f32((sp.add(2 * j) as *const u16).read_unaligned());
                }
            }
            ScaleType::Bf16 => {
                while i + 8 <= n {
                    _mm256_storeu_ps(op.add(i), load_bf16(sp.add(2 * i)));
                    i += 8;
                }
                for j in i..n {
                    let bits = (sp.add(2 * j) as *const u16).read_unaligned();
                    *op.add(j) = crate::convert::bf16_bits_to_f32(bits);
                }
            }
        }
    }
}

/// Calls `$f::<BITS, GROUP, ...>` for the row's bits and group size.
macro_rules! by_bits_and_group {
    ($a:expr, $f:ident, $($extra:tt)*) => {
        match ($a.bits, $a.group) {
            (2, 32) => $f::<2, 32, $($extra)*>,
            (2, 64) => $f::<2, 64, $($extra)*>,
            (2, _) => $f::<2, 128, $($extra)*>,
            (4, 32) => $f::<4, 32, $($extra)*>,
            (4, 64) => $f::<4, 64, $($extra)*>,
            (4, _) => $f::<4, 128, $($extra)*>,
            (8, 32) => $f::<8, 32, $($extra)*>,
            (8, 64) => $f::<8, 64, $($extra)*>,
            (_, _) => $f::<8, 128, $($extra)*>,
        }
    };
}
pub(super) use by_bits_and_group;

/// `Σ_g scale_g · (q·x)_g + bias_g · Σx_g`, with `Σx_g` from `x_sums` if `PREPARED`, else
/// summed here. Four accumulators per group, two across groups, so that the chains of fused
/// multiply-adds overlap.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_affine<const BITS: usize, const GROUP: usize, const PREPARED: bool>(
    a: AffineRow<'_>,
    x: &[f32],
    x_sums: &[f32],
) -> f32 {
    let chunks = GROUP / 8;
    let groups = x.len() / GROUP;
    let packed = a.packed.as_ptr();
    // (q·x, Σx) of group `g`, the latter only if not `PREPARED`.
    let group = |g: usize| {
        // SAFETY: the callers pass `g < groups`, so group `g` lies inside `x` and `packed`.
        let xp = unsafe { x.as_ptr().add(g * GROUP) };
        let mut qx = [_mm256_setzero_ps(); 4];
        let mut xs = [_mm256_setzero_ps(); 2];
        for c in 0..chunks {
            let xv = unsafe { _mm256_loadu_ps(xp.add(8 * c)) };
            let q = unsafe { load_q::<BITS>(packed, g * chunks + c) };
            qx[c % 4] = _mm256_fmadd_ps(q, xv, qx[c % 4]);
            if !PREPARED {
                xs[c % 2] = _mm256_add_ps(xs[c % 2], xv);
            }
        }
        (
            _mm256_add_ps(_mm256_add_ps(qx[0], qx[1]), _mm256_add_ps(qx[2], qx[3])),
            _mm256_add_ps(xs[0], xs[1]),
        )
    };
    // Two groups at a time into two accumulators, so that their chains overlap.
    let (mut total0, mut total1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let (mut bias0, mut bias1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
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
            total0 = _mm256_fmadd_ps(qx, _mm256_set1_ps(scales[gi]), total0);
            if !PREPARED {
                bias0 = _mm256_fmadd_ps(xs, _mm256_set1_ps(biases[gi]), bias0);
            }
            if gi + 1 < n {
                let (qx, xs) = group(g0 + gi + 1);
                total1 = _mm256_fmadd_ps(qx, _mm256_set1_ps(scales[gi + 1]), total1);
                if !PREPARED {
                    bias1 = _mm256_fmadd_ps(xs, _mm256_set1_ps(biases[gi + 1]), bias1);
                }
            }
            gi += 2;
        }
        if PREPARED {
            bias_scalar += unsafe { dot_f32(&biases[..n], &x_sums[g0..g0 + n]) };
        }
        g0 += n;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(total0, total1), _mm256_add_ps(bias0, bias1));
    hsum(sum) + bias_scalar
}

/// The dot product of a 4-bit affine row with `x_split`, its input in nibble-split order
/// (see [`crate::prepared::nibble_split`]), and `x_sums`, the per-group sums of the input.
#[target_feature(enable = "avx2,fma,f16c")]
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

/// [`dot_affine4_split`] for groups of `GROUP` values: per 8 packed bytes (16 values), one
/// widening load, a mask for the low nibbles (values `2j`) and a shift for the high ones
/// (`2j + 1`), two conversions and two fused multiply-adds against the split input.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_affine4_split_group<const GROUP: usize>(
    a: AffineRow<'_>,
    x_split: &[f32],
    x_sums: &[f32],
) -> f32 {
    let units = GROUP / 16;
    let groups = x_split.len() / GROUP;
    let packed = a.packed.as_ptr();
    let low = _mm256_set1_epi32(0xF);
    let group = |g: usize| {
        // SAFETY: the callers pass `g < groups`, so group `g` lies inside `x_split` (GROUP
        // values) and `packed` (GROUP / 2 bytes).
        let (xp, qp) = unsafe { (x_split.as_ptr().add(g * GROUP), packed.add(g * GROUP / 2)) };
        // One accumulator for the low nibbles, one for the high: chains of `units` FMAs.
        let (mut even_qx, mut odd_qx) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for u in 0..units {
            let bytes =
                _mm256_cvtepu8_epi32(unsafe { _mm_loadl_epi64(qp.add(8 * u) as *const __m128i) });
            let even = _mm256_cvtepi32_ps(_mm256_and_si256(bytes, low));
            let odd = _mm256_cvtepi32_ps(_mm256_srli_epi32::<4>(bytes));
            even_qx = _mm256_fmadd_ps(even, unsafe { _mm256_loadu_ps(xp.add(16 * u)) }, even_qx);
            odd_qx = _mm256_fmadd_ps(odd, unsafe { _mm256_loadu_ps(xp.add(16 * u + 8)) }, odd_qx);
        }
        _mm256_add_ps(even_qx, odd_qx)
    };
    let (mut total0, mut total1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut bias_sum = 0.0f32;
    let (mut scales, mut biases) = ([0.0f32; BATCH], [0.0f32; BATCH]);
    let mut g0 = 0;
    while g0 < groups {
        let n = BATCH.min(groups - g0);
        widen(a.scale_type, a.scales, g0, n, &mut scales);
        widen(a.scale_type, a.biases, g0, n, &mut biases);
        let mut gi = 0;
        while gi < n {
            total0 = _mm256_fmadd_ps(group(g0 + gi), _mm256_set1_ps(scales[gi]), total0);
            if gi + 1 < n {
                total1 =
                    _mm256_fmadd_ps(group(g0 + gi + 1), _mm256_set1_ps(scales[gi + 1]), total1);
            }
            gi += 2;
        }
        bias_sum += unsafe { dot_f32(&biases[..n], &x_sums[g0..g0 + n]) };
        g0 += n;
    }
    hsum(_mm256_add_ps(total0, total1)) + bias_sum
}

/// Dequantizes `row` into `out`, bit-identical to [`super::scalar::dequantize`].
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dequantize(row: Row<'_>, out: &mut [f32]) {
    let n = out.len();
    let op = out.as_mut_ptr();
    unsafe {
        match row {
            Row::F32(b) => std::ptr::copy_nonoverlapping(b.as_ptr(), op as *mut u8, 4 * n),
            Row::F16(b) | Row::Bf16(b) => {
                let is_f16 = matches!(row, Row::F16(_));
                let p = b.as_ptr();
                let mut i = 0;
                while i + 8 <= n {
                    let v = if is_f16 {
                        load_f16(p.add(2 * i))
                    } else {
                        load_bf16(p.add(2 * i))
                    };
                    _mm256_storeu_ps(op.add(i), v);
                    i += 8;
                }
                for (j, o) in out.iter_mut().enumerate().skip(i) {
                    let bits = crate::convert::u16_at(b, j);
                    *o = if is_f16 {
                        f16_bits_to_f32(bits)
                    } else {
                        crate::convert::bf16_bits_to_f32(bits)
                    };
                }
            }
            Row::Q8_0(b) => {
                for (block, out) in b.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
                    let d = _mm256_set1_ps(f16_to_f32(u16::from_le_bytes([block[0], block[1]])));
                    for k in 0..4 {
                        let v = _mm256_mul_ps(load_i8(block.as_ptr().add(2 + 8 * k)), d);
                        _mm256_storeu_ps(out.as_mut_ptr().add(8 * k), v);
                    }
                }
            }
            Row::Affine(a) => by_bits_and_group!(a, dequantize_affine,)(a, out),
        }
    }
}

/// `q · scale + bias`, multiplied then added (not fused), as the scalar kernel.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dequantize_affine<const BITS: usize, const GROUP: usize>(
    a: AffineRow<'_>,
    out: &mut [f32],
) {
    let chunks = GROUP / 8;
    let groups = out.len() / GROUP;
    let packed = a.packed.as_ptr();
    let op = out.as_mut_ptr();
    let (mut scales, mut biases) = ([0.0f32; BATCH], [0.0f32; BATCH]);
    let mut g0 = 0;
    while g0 < groups {
        let n = BATCH.min(groups - g0);
        widen(a.scale_type, a.scales, g0, n, &mut scales);
        widen(a.scale_type, a.biases, g0, n, &mut biases);
        for gi in 0..n {
            let g = g0 + gi;
            let (scale, bias) = (_mm256_set1_ps(scales[gi]), _mm256_set1_ps(biases[gi]));
            for c in 0..chunks {
                // SAFETY: group `g < groups` lies inside `out` and `packed`.
                unsafe {
                    let q = load_q::<BITS>(packed, g * chunks + c);
                    let v = _mm256_add_ps(_mm256_mul_ps(q, scale), bias);
                    _mm256_storeu_ps(op.add(g * GROUP + 8 * c), v);
                }
            }
        }
        g0 += n;
    }
}
