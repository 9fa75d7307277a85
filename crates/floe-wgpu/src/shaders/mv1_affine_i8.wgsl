// MLX affine 4-bit weights in groups of GROUP with STYPE scales, times x quantized to int8
// (quantize_x.wgsl with ORDER 1): a unit is 16 bytes of codes (32 values, one x block). Each
// code word splits into two words of byte-wide codes (0..15, so valid signed bytes) that
// dot4I8Packed multiplies with the x codes. The codes are centred, w = s·(q − 8) + (b + 8·s),
// with Σ (q − 8)·q_x = Σ q·q_x − 8·Σ q_x: s·d·Σ (q − 8)·q_x + (b + 8·s)·Σ x per unit, whose
// error from x's rounding, s·Σ (q − 8)·(x − d·q_x), is about half of s·Σ q·(x − d·q_x).
@group(0) @binding(1) var<storage, read> WQ: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> WD: array<u32>;

/*AFFINE_SCALE*/

/*I8_X*/

// Σ q·q_x over the 8 codes of word w; lo and hi hold the x codes of its even and odd values.
fn word_dot(w: u32, lo: u32, hi: u32) -> i32 {
    let m = 0x0f0f0f0fu;
    return dot4I8Packed(w & m, lo) + dot4I8Packed((w >> 4u) & m, hi);
}

// Row `row`'s unit `u` times the unit's x block.
fn row_dot(wbyte: u32, row: u32, u: u32, units: u32, v: XUnit) -> f32 {
    let groups_per_row = units * UNIT / GROUP;
    let w = WQ[(wbyte >> 4u) + row * units + u];
    let g = row * groups_per_row + (u * UNIT) / GROUP;
    let q = (word_dot(w.x, v.a.x, v.a.y) + word_dot(w.y, v.a.z, v.a.w))
        + (word_dot(w.z, v.b.x, v.b.y) + word_dot(w.w, v.b.z, v.b.w));
    let s = scale_at(prm[4] + wbyte, g);
    return s * v.d * f32(q - 8 * v.codes) + (scale_at(prm[5] + wbyte, g) + 8.0 * s) * v.s;
}
