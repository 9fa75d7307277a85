// The scale or bias `index` of an MLX affine plane starting at byte `plane` of the weight words
// WD, stored as STYPE (0 f32, 1 f16, 2 bf16).
fn scale_at(plane: u32, index: u32) -> f32 {
    if STYPE == 0u {
        return bitcast<f32>(WD[(plane >> 2u) + index]);
    }
    let byte = plane + index * 2u;
    let bits = (WD[byte >> 2u] >> ((byte & 2u) * 8u)) & 0xffffu;
    if STYPE == 1u {
        return f16_bits_to_f32(bits);
    }
    return bf16_bits_to_f32(bits);
}
