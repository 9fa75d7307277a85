// Causal grouped-query attention of query rows q0 .. q0 + n, one workgroup per (query row,
// head): the scaled scores against every cache row the query may see, a softmax with the
// maximum subtracted, and the probability-weighted sum of value rows, in one kernel. The score
// row lives in the scratch S (global memory: its length is the context's); each invocation
// writes and normalizes its own positions, and the barrier before the weighted sum makes all
// of them visible. prm: [0] query rows in this chunk, [1] heads, [2] kv heads, [3] head_dim,
// [4] past, [5] score row length (past + all queries), [6] scale (f32 bits), [7] first query
// row q0. `attention_q` also writes the int8 blocks of each head's output to XQ
// (quantize_block.wgsl; head_dim a multiple of 32, so blocks never straddle heads).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read_write> S: array<f32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;
/*Q_DECL*/

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32> /*SG_ARGS*/) {
    g_lid = lid;
    /*SG_INIT*/
    let r = group_index(wid, nwg);
    let heads = prm[1];
    if r >= prm[0] * heads {
        return;
    }
    let h = r % heads;
    let t = prm[7] + r / heads;
    let hd = prm[3];
    let kv = prm[2];
    let kvh = h / (heads / kv);
    let visible = prm[4] + t + 1u;
    let qb = (t * heads + h) * hd;
    let sb = r * prm[5];
    let scale = bitcast<f32>(prm[6]);
    var m = -3.4028235e38;
    for (var j = lid; j < visible; j = j + WG) {
        let kb = (j * kv + kvh) * hd;
        var acc = 0.0;
        for (var d = 0u; d < hd; d = d + 1u) {
            acc = acc + Q[qb + d] * K[kb + d];
        }
        let s = acc * scale;
        S[sb + j] = s;
        m = max(m, s);
    }
    let mx = wg_max(m);
    var total = 0.0;
    for (var j = lid; j < visible; j = j + WG) {
        let e = exp(S[sb + j] - mx);
        S[sb + j] = e;
        total = total + e;
    }
    let inv = 1.0 / wg_sum(total);
    for (var j = lid; j < visible; j = j + WG) {
        S[sb + j] = S[sb + j] * inv;
    }
    storageBarrier();
    for (var d = lid; d < hd; d = d + WG) {
        var acc = 0.0;
        for (var j = 0u; j < visible; j = j + 1u) {
            acc = acc + S[sb + j] * V[(j * kv + kvh) * hd + d];
        }
        O[qb + d] = acc;
    }
    /*ATTN_QUANTIZE*/
}
