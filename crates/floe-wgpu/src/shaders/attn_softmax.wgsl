// Attention step 2: softmax of each score row over the cache rows its query may see (the
// maximum subtracted first), one workgroup per (query row, head). prm as attn_scores.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read_write> S: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32> /*SG_ARGS*/) {
    g_lid = lid;
    /*SG_INIT*/
    let r = group_index(wid, nwg);
    let heads = prm[1];
    if r >= prm[0] * heads {
        return;
    }
    let len = prm[5];
    let t = prm[7] + r / heads;
    let visible = prm[4] + t + 1u;
    let base = r * len;
    var m = -3.4028235e38;
    for (var j = lid; j < visible; j = j + WG) {
        m = max(m, S[base + j]);
    }
    let mx = wg_max(m);
    var s = 0.0;
    for (var j = lid; j < visible; j = j + WG) {
        let e = exp(S[base + j] - mx);
        S[base + j] = e;
        s = s + e;
    }
    let inv = 1.0 / wg_sum(s);
    for (var j = lid; j < visible; j = j + WG) {
        S[base + j] = S[base + j] * inv;
    }
}
