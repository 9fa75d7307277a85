// Q8_0 weights times x quantized to int8 (quantize_x.wgsl with ORDER 0): a unit is one block of
// each, and dot4I8Packed multiplies their codes: d_w·d_x·Σ q·q_x per unit.
/*Q8_BLOCK*/

/*I8_X*/

// Row `row`'s block `u` times the x block.
fn row_dot(wbyte: u32, row: u32, u: u32, units: u32, v: XUnit) -> f32 {
    let k = load_block(wbyte + (row * units + u) * 34u);
    let q = ((dot4I8Packed(k.lo.x, v.a.x) + dot4I8Packed(k.lo.y, v.a.y)) + (dot4I8Packed(k.lo.z, v.a.z) + dot4I8Packed(k.lo.w, v.a.w)))
        + ((dot4I8Packed(k.hi.x, v.b.x) + dot4I8Packed(k.hi.y, v.b.y)) + (dot4I8Packed(k.hi.z, v.b.z) + dot4I8Packed(k.hi.w, v.b.w)));
    return k.d * v.d * f32(q);
}
