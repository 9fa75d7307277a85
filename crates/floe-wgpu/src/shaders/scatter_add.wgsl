// acc[rows[i]] += weights[i] * src[i], one invocation per column, rows in order (so repeated
// destination rows accumulate exactly as a sequential loop would).
// prm: [0] src rows, [1] columns. IDX: rows then weights (f32 bits).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> IDX: array<u32>;
@group(0) @binding(2) var<storage, read> S: array<f32>;
@group(0) @binding(3) var<storage, read_write> ACC: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = group_index(wid, nwg) * 256u + lid;
    let n = prm[0];
    let cols = prm[1];
    if c >= cols {
        return;
    }
    for (var i = 0u; i < n; i = i + 1u) {
        let w = bitcast<f32>(IDX[n + i]);
        let at = IDX[i] * cols + c;
        ACC[at] = ACC[at] + w * S[i * cols + c];
    }
}
