// f32 / f16 / bf16 weights (FTYPE 0 / 1 / 2): one unit is 16 bytes (UNIT = 4 or 8 values).
@group(0) @binding(1) var<storage, read> WQ: array<vec4<u32>>;
fn pair(w: u32) -> vec2<f32> {
    if FTYPE == 1u {
        return unpack2x16float(w);
    }
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

/*F32_X*/

// Row `row`'s unit `u` times the unit's x values.
fn row_dot(wbyte: u32, row: u32, u: u32, units: u32, v: XUnit) -> f32 {
    let w = WQ[(wbyte >> 4u) + row * units + u];
    if FTYPE == 0u {
        return dot(bitcast<vec4<f32>>(w), v.x0);
    }
    let a = vec4<f32>(pair(w.x), pair(w.y));
    let b = vec4<f32>(pair(w.z), pair(w.w));
    return dot(a, v.x0) + dot(b, v.x1);
}
