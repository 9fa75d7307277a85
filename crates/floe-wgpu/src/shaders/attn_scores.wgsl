// Attention step 1: scaled scores of query rows q0 .. q0 + n against every cache row each may
// see. One invocation per (query row, head, cache row). prm: [0] query rows in this chunk,
// [1] heads, [2] kv heads, [3] head_dim, [4] past, [5] score row length (past + all queries),
// [6] scale (f32 bits), [7] first query row q0.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read_write> S: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = group_index(wid, nwg) * 256u + lid;
    let heads = prm[1];
    let len = prm[5];
    if i >= prm[0] * heads * len {
        return;
    }
    let j = i % len;
    let h = (i / len) % heads;
    let t = prm[7] + i / (len * heads);
    if j > prm[4] + t {
        return;
    }
    let hd = prm[3];
    let kvh = h / (heads / prm[2]);
    let qb = (t * heads + h) * hd;
    let kb = (j * prm[2] + kvh) * hd;
    var acc = 0.0;
    for (var d = 0u; d < hd; d = d + 1u) {
        acc = acc + Q[qb + d] * K[kb + d];
    }
    S[i] = acc * bitcast<f32>(prm[6]);
}
