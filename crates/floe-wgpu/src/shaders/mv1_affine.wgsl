// MLX affine weights of BITS (2, 4 or 8) bits in groups of GROUP with STYPE scales (0 f32,
// 1 f16, 2 bf16): one unit is 16·WPU bytes of codes (UNIT values). DECODE 0 decodes codes into
// the mantissa of 1.0 (1 + q/2^BITS, three integer operations), 1 converts them, 2 decodes two
// codes at once into the mantissas of a pair of f16 1.0s (unpack2x16float), the same values as 0.
@group(0) @binding(1) var<storage, read> WQ: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> WD: array<u32>;
const LEVELS: f32 = f32(1u << BITS);

/*AFFINE_SCALE*/

/*F32_X*/

// Σ c·x over the 4 codes of an 8-bit word, c = 1 + q/2^BITS (DECODE 0, 2) or q (DECODE 1).
fn dot8(w: u32, x: vec4<f32>) -> f32 {
    var c: vec4<f32>;
    if DECODE == 2u {
        let m = 0x03fc03fcu;
        let one = 0x3c003c00u;
        let p0 = unpack2x16float(((w << 2u) & m) | one);
        let p1 = unpack2x16float(((w >> 6u) & m) | one);
        c = vec4<f32>(p0.x, p1.x, p0.y, p1.y);
    } else if DECODE == 0u {
        c = bitcast<vec4<f32>>((vec4<u32>(w << 15u, w << 7u, w >> 1u, w >> 9u) & vec4<u32>(0x007f8000u)) | vec4<u32>(0x3f800000u));
    } else {
        c = vec4<f32>(vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u) & vec4<u32>(0xffu));
    }
    return dot(c, x);
}

// Σ c·x over the 8 codes of a 4-bit word (xa the first four x values, xb the next four).
fn dot4(w: u32, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
    var ca: vec4<f32>;
    var cb: vec4<f32>;
    if DECODE == 2u {
        let m = 0x03c003c0u;
        let one = 0x3c003c00u;
        let p0 = unpack2x16float(((w << 6u) & m) | one);
        let p1 = unpack2x16float(((w << 2u) & m) | one);
        let p2 = unpack2x16float(((w >> 2u) & m) | one);
        let p3 = unpack2x16float(((w >> 6u) & m) | one);
        ca = vec4<f32>(p0.x, p1.x, p2.x, p3.x);
        cb = vec4<f32>(p0.y, p1.y, p2.y, p3.y);
    } else if DECODE == 0u {
        let m = vec4<u32>(0x00780000u);
        let one = vec4<u32>(0x3f800000u);
        ca = bitcast<vec4<f32>>((vec4<u32>(w << 19u, w << 15u, w << 11u, w << 7u) & m) | one);
        cb = bitcast<vec4<f32>>((vec4<u32>(w << 3u, w >> 1u, w >> 5u, w >> 9u) & m) | one);
    } else {
        ca = vec4<f32>(vec4<u32>(w, w >> 4u, w >> 8u, w >> 12u) & vec4<u32>(15u));
        cb = vec4<f32>(vec4<u32>(w >> 16u, w >> 20u, w >> 24u, w >> 28u) & vec4<u32>(15u));
    }
    return dot(ca, xa) + dot(cb, xb);
}

// Σ c·x over the 16 codes of a 2-bit word (x0 .. x3 the x values they multiply).
fn dot2(w: u32, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>) -> f32 {
    var c0: vec4<f32>;
    var c1: vec4<f32>;
    var c2: vec4<f32>;
    var c3: vec4<f32>;
    if DECODE == 2u {
        let m = 0x03000300u;
        let one = 0x3c003c00u;
        let p0 = unpack2x16float(((w << 8u) & m) | one);
        let p1 = unpack2x16float(((w << 6u) & m) | one);
        let p2 = unpack2x16float(((w << 4u) & m) | one);
        let p3 = unpack2x16float(((w << 2u) & m) | one);
        let p4 = unpack2x16float((w & m) | one);
        let p5 = unpack2x16float(((w >> 2u) & m) | one);
        let p6 = unpack2x16float(((w >> 4u) & m) | one);
        let p7 = unpack2x16float(((w >> 6u) & m) | one);
        c0 = vec4<f32>(p0.x, p1.x, p2.x, p3.x);
        c1 = vec4<f32>(p4.x, p5.x, p6.x, p7.x);
        c2 = vec4<f32>(p0.y, p1.y, p2.y, p3.y);
        c3 = vec4<f32>(p4.y, p5.y, p6.y, p7.y);
    } else if DECODE == 0u {
        let m = vec4<u32>(0x00600000u);
        let one = vec4<u32>(0x3f800000u);
        c0 = bitcast<vec4<f32>>((vec4<u32>(w << 21u, w << 19u, w << 17u, w << 15u) & m) | one);
        c1 = bitcast<vec4<f32>>((vec4<u32>(w << 13u, w << 11u, w << 9u, w << 7u) & m) | one);
        c2 = bitcast<vec4<f32>>((vec4<u32>(w << 5u, w << 3u, w << 1u, w >> 1u) & m) | one);
        c3 = bitcast<vec4<f32>>((vec4<u32>(w >> 3u, w >> 5u, w >> 7u, w >> 9u) & m) | one);
    } else {
        let m = vec4<u32>(3u);
        c0 = vec4<f32>(vec4<u32>(w, w >> 2u, w >> 4u, w >> 6u) & m);
        c1 = vec4<f32>(vec4<u32>(w >> 8u, w >> 10u, w >> 12u, w >> 14u) & m);
        c2 = vec4<f32>(vec4<u32>(w >> 16u, w >> 18u, w >> 20u, w >> 22u) & m);
        c3 = vec4<f32>(vec4<u32>(w >> 24u, w >> 26u, w >> 28u, w >> 30u) & m);
    }
    return (dot(c0, x0) + dot(c1, x1)) + (dot(c2, x2) + dot(c3, x3));
}

// s · Σ q·x + b · Σ x for one group part from Σ c·x and Σ x.
fn part_value(cx: f32, sx: f32, s: f32, b: f32) -> f32 {
    if DECODE != 1u {
        return s * LEVELS * (cx - sx) + b * sx;
    }
    return s * cx + b * sx;
}

// Row `row`'s unit `u` times the unit's x values.
fn row_dot(wbyte: u32, row: u32, u: u32, units: u32, v: XUnit) -> f32 {
    let groups_per_row = units * UNIT / GROUP;
    let soff = prm[4] + wbyte;
    let boff = prm[5] + wbyte;
    let at = (wbyte >> 4u) + (row * units + u) * WPU;
    let w = WQ[at];
    let g = row * groups_per_row + (u * UNIT) / GROUP;
    if BITS == 8u {
        let w2 = WQ[at + 1u];
        let cx = (dot8(w.x, v.x0) + dot8(w.y, v.x1)) + (dot8(w.z, v.x2) + dot8(w.w, v.x3))
            + (dot8(w2.x, v.x4) + dot8(w2.y, v.x5)) + (dot8(w2.z, v.x6) + dot8(w2.w, v.x7));
        return part_value(cx, v.s0, scale_at(soff, g), scale_at(boff, g));
    } else if BITS == 4u {
        let cx = (dot4(w.x, v.x0, v.x1) + dot4(w.y, v.x2, v.x3)) + (dot4(w.z, v.x4, v.x5) + dot4(w.w, v.x6, v.x7));
        return part_value(cx, v.s0, scale_at(soff, g), scale_at(boff, g));
    }
    // 2 bits: 64 values, two halves of 32 (each inside one group, since GROUP >= 32).
    let g1 = row * groups_per_row + (u * UNIT + 32u) / GROUP;
    let d0 = dot2(w.x, v.x0, v.x1, v.x2, v.x3) + dot2(w.y, v.x4, v.x5, v.x6, v.x7);
    let d1 = dot2(w.z, v.x8, v.x9, v.x10, v.x11) + dot2(w.w, v.x12, v.x13, v.x14, v.x15);
    return part_value(d0, v.s0, scale_at(soff, g), scale_at(boff, g)) + part_value(d1, v.s1, scale_at(soff, g1), scale_at(boff, g1));
}
