// RMSNorm of each head (the [1, HD] weight WD), then rotary embedding: one workgroup per
// (row, head), the normed head held in workgroup memory for the rotation's partners. The norm
// is rms_norm.wgsl's, term for term, so the result equals rms_norm then rope. prm: [0] rows,
// [1] columns, [2] rotary_dim, [3] interleaved, [4] eps (f32 bits), [5] weight offset (f32
// bits), [6] scale plane, [7] bias plane, [8] X's row width, [9] the first column of the heads
// in X, [10] O's row width, [11] the first element of O written (the heads may be a column
// window of a stacked q/k/v projection, and the output rows of a KV cache). CS: per row,
// rotary_dim / 2 (cos, sin) pairs computed on the CPU in f64. `head_norm_rope_v` (the k heads
// of a stacked projection) also copies as many heads from X's column [12] on to OV, laid out
// as O: the v heads into the v cache, by workgroups after the k heads'.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> WD: array<u32>;
@group(0) @binding(2) var<storage, read> CS: array<f32>;
@group(0) @binding(3) var<storage, read> X: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;

/*ROPE_PAIR*/

var<workgroup> head: array<f32, HD>;
/*V_DECL*/

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32> /*SG_ARGS*/) {
    g_lid = lid;
    /*SG_INIT*/
    let g = group_index(wid, nwg);
    let heads = prm[1] / HD;
    /*V_COPY*/
    if g >= prm[0] * heads {
        return;
    }
    g_cols = HD;
    g_soff = prm[6];
    g_boff = prm[7];
    let row = g / heads;
    let h = g % heads;
    let base = row * prm[8] + prm[9] + h * HD;
    let out = prm[11] + row * prm[10] + h * HD;
    var ss = 0.0;
    for (var d = lid; d < HD; d = d + WG) {
        let v = X[base + d];
        ss = ss + v * v;
    }
    let total = wg_sum(ss);
    let inv = 1.0 / sqrt(total / f32(HD) + bitcast<f32>(prm[4]));
    let offset = bitcast<f32>(prm[5]);
    for (var d = lid; d < HD; d = d + WG) {
        head[d] = X[base + d] * inv * (offset + w_value(0u, d));
    }
    workgroupBarrier();
    let rot = prm[2];
    for (var d = lid; d < HD; d = d + WG) {
        if d >= rot {
            O[out + d] = head[d];
        } else {
            let p = rope_pair(d, rot, prm[3] != 0u);
            let at = (row * (rot / 2u) + p.pair) * 2u;
            O[out + d] = head[d] * CS[at] + p.sign * head[p.partner] * CS[at + 1u];
        }
    }
}
