// Q8_0 weights: one unit is one 34-byte block (an f16 scale, 32 signed bytes), read as the nine
// 32-bit words that hold it (blocks are 2-byte aligned). DECODE 0 decodes bytes into the
// mantissa of 1.0 (offset by 128), 1 converts them.
/*Q8_BLOCK*/

fn q8_dot(word: u32, x: vec4<f32>) -> f32 {
    if DECODE == 0u {
        let u = word ^ 0x80808080u;
        let m = bitcast<vec4<f32>>((vec4<u32>(u << 15u, u << 7u, u >> 1u, u >> 9u) & vec4<u32>(0x007f8000u)) | vec4<u32>(0x3f800000u));
        return dot(m, x);
    }
    let v = vec4<f32>(vec4<i32>(bitcast<i32>(word << 24u), bitcast<i32>(word << 16u), bitcast<i32>(word << 8u), bitcast<i32>(word)) >> vec4<u32>(24u));
    return dot(v, x);
}

/*F32_X*/

// Row `row`'s block `u` times the block's x values.
fn row_dot(wbyte: u32, row: u32, u: u32, units: u32, v: XUnit) -> f32 {
    let k = load_block(wbyte + (row * units + u) * 34u);
    let d = k.d;
    let s = ((q8_dot(k.lo.x, v.x0) + q8_dot(k.lo.y, v.x1)) + (q8_dot(k.lo.z, v.x2) + q8_dot(k.lo.w, v.x3)))
        + ((q8_dot(k.hi.x, v.x4) + q8_dot(k.hi.y, v.x5)) + (q8_dot(k.hi.z, v.x6) + q8_dot(k.hi.w, v.x7)));
    if DECODE == 0u {
        // Σ q·x = 256·Σ (1 + (q + 128)/256)·x − 384·Σ x.
        return d * (256.0 * s - 384.0 * v.s0);
    }
    return d * s;
}
