// Attention step 3: the probability-weighted sum of value rows, one invocation per (query row,
// head, dimension). prm as attn_scores.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> S: array<f32>;
@group(0) @binding(2) var<storage, read> V: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = group_index(wid, nwg) * 256u + lid;
    let heads = prm[1];
    let hd = prm[3];
    if i >= prm[0] * heads * hd {
        return;
    }
    let d = i % hd;
    let h = (i / hd) % heads;
    let tl = i / (hd * heads);
    let t = prm[7] + tl;
    let len = prm[5];
    let kvh = h / (heads / prm[2]);
    let visible = prm[4] + t + 1u;
    let sb = (tl * heads + h) * len;
    var acc = 0.0;
    for (var j = 0u; j < visible; j = j + 1u) {
        acc = acc + S[sb + j] * V[(j * prm[2] + kvh) * hd + d];
    }
    O[(t * heads + h) * hd + d] = acc;
}
