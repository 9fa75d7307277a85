// Q8_0 weights: one unit is one 34-byte block (an f16 scale, 32 signed bytes), read as the nine
// 32-bit words that hold it (blocks are 2-byte aligned). DECODE 0 decodes bytes into the
// mantissa of 1.0 (offset by 128), 1 converts them.
@group(0) @binding(1) var<storage, read> WD: array<u32>;
fn block_word(lo: u32, hi: u32, odd: bool) -> u32 {
    return select((lo >> 16u) | (hi << 16u), hi, odd);
}

fn q8_dot(word: u32, x: vec4<f32>) -> f32 {
    if DECODE == 0u {
        let u = word ^ 0x80808080u;
        let m = bitcast<vec4<f32>>((vec4<u32>(u << 15u, u << 7u, u >> 1u, u >> 9u) & vec4<u32>(0x007f8000u)) | vec4<u32>(0x3f800000u));
        return dot(m, x);
    }
    let v = vec4<f32>(vec4<i32>(bitcast<i32>(word << 24u), bitcast<i32>(word << 16u), bitcast<i32>(word << 8u), bitcast<i32>(word)) >> vec4<u32>(24u));
    return dot(v, x);
}

// The 32 x values of one block, and their sum (for DECODE 0), loaded once for all the rows an
// invocation computes.
struct XUnit {
    x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>,
    x4: vec4<f32>, x5: vec4<f32>, x6: vec4<f32>, x7: vec4<f32>,
    s: f32,
}

fn load_x(xo: u32) -> XUnit {
    var v: XUnit;
    v.x0 = X[xo];
    v.x1 = X[xo + 1u];
    v.x2 = X[xo + 2u];
    v.x3 = X[xo + 3u];
    v.x4 = X[xo + 4u];
    v.x5 = X[xo + 5u];
    v.x6 = X[xo + 6u];
    v.x7 = X[xo + 7u];
    if DECODE == 0u {
        v.s = dot(((v.x0 + v.x1) + (v.x2 + v.x3)) + ((v.x4 + v.x5) + (v.x6 + v.x7)), vec4<f32>(1.0));
    }
    return v;
}

// Row `row`'s block `u` times the block's x values.
fn row_dot(wbyte: u32, row: u32, u: u32, units: u32, v: XUnit) -> f32 {
    let start = wbyte + (row * units + u) * 34u;
    let at = start >> 2u;
    let odd = (start & 2u) != 0u;
    let w0 = WD[at];
    let w1 = WD[at + 1u];
    let w2 = WD[at + 2u];
    let w3 = WD[at + 3u];
    let w4 = WD[at + 4u];
    let w5 = WD[at + 5u];
    let w6 = WD[at + 6u];
    let w7 = WD[at + 7u];
    let w8 = WD[at + 8u];
    let d = f16_bits_to_f32(select(w0 & 0xffffu, w0 >> 16u, odd));
    let s = ((q8_dot(block_word(w0, w1, odd), v.x0) + q8_dot(block_word(w1, w2, odd), v.x1))
        + (q8_dot(block_word(w2, w3, odd), v.x2) + q8_dot(block_word(w3, w4, odd), v.x3)))
        + ((q8_dot(block_word(w4, w5, odd), v.x4) + q8_dot(block_word(w5, w6, odd), v.x5))
        + (q8_dot(block_word(w6, w7, odd), v.x6) + q8_dot(block_word(w7, w8, odd), v.x7)));
    if DECODE == 0u {
        // Σ q·x = 256·Σ (1 + (q + 128)/256)·x − 384·Σ x.
        return d * (256.0 * s - 384.0 * v.s);
    }
    return d * s;
}
