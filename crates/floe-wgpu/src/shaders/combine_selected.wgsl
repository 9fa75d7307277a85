// The weighted combine of selected rows: OUT[t, c] = Σ_j weight(t, j) · Y[t·k + j, c], summed
// in j order, one invocation per output element. ROUTES is the [T, 2k] routing tensor (k ids,
// then k weights per row). prm: [0] tokens, [1] columns, [2] k.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> ROUTES: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = group_index(wid, nwg) * 256u + lid;
    let cols = prm[1];
    let k = prm[2];
    if i >= prm[0] * cols {
        return;
    }
    let t = i / cols;
    let c = i % cols;
    var acc = 0.0;
    for (var j = 0u; j < k; j = j + 1u) {
        acc = acc + ROUTES[t * 2u * k + k + j] * Y[(t * k + j) * cols + c];
    }
    OUT[i] = acc;
}
