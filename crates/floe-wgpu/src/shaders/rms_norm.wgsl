// RMSNorm, one workgroup per row. prm: [0] rows, [1] columns, [2] eps (f32 bits), [3] weight
// offset (f32 bits), [4] scale plane, [5] bias plane.
// Variants (shaders.rs): `add_` normalizes the row X + D and writes that sum to S (a residual
// add fused with the next norm); `_q` also writes the normalized row's int8 blocks to XQ
// (quantize_block.wgsl, columns a multiple of 32), for the integer-dot products that read it:
// each normalized value is then computed once, where it is quantized, and stored to O there.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> WD: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
/*NORM_INPUT*/
/*NORM_QUANT_DECL*/
var<private> g_inv: f32;
var<private> g_offset: f32;
var<private> g_base: u32;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32> /*SG_ARGS*/) {
    g_lid = lid;
    /*SG_INIT*/
    let row = group_index(wid, nwg);
    if row >= prm[0] {
        return;
    }
    g_cols = prm[1];
    g_soff = prm[4];
    g_boff = prm[5];
    let base = row * g_cols;
    var ss = 0.0;
    for (var c = lid; c < g_cols; c = c + WG) {
        let v = first_value(base + c);
        ss = ss + v * v;
    }
    let total = wg_sum(ss);
    g_inv = 1.0 / sqrt(total / f32(g_cols) + bitcast<f32>(prm[2]));
    g_offset = bitcast<f32>(prm[3]);
    g_base = base;
    /*NORM_OUTPUT*/
}

// Output element i (of the row starting at g_base).
fn normed(i: u32) -> f32 {
    return row_value(i) * g_inv * (g_offset + w_value(0u, i - g_base));
}
