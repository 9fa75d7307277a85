// Shared by every kernel: invocation ids, workgroup linearization, 16-bit float helpers.
var<private> g_lid: u32;
var<private> g_lane: u32;
var<private> g_sgid: u32;
var<private> g_nsg: u32;

// The linear index of this workgroup in a dispatch split over x and y.
fn group_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

fn f16_bits_to_f32(bits: u32) -> f32 {
    return unpack2x16float(bits).x;
}

fn bf16_bits_to_f32(bits: u32) -> f32 {
    return bitcast<f32>(bits << 16u);
}

fn silu(x: f32) -> f32 {
    return x / (1.0 + exp(-x));
}

// Whether (v, i) comes before (w, j): the larger value, the lower index on ties.
fn pair_better(v: f32, i: u32, w: f32, j: u32) -> bool {
    return v > w || (v == w && i < j);
}
