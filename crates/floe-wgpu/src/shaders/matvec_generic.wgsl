// x · wᵀ for any format and any shape, one workgroup per (token, output row): the path for
// shapes the vectorized kernels do not take. prm: [0] rows in this chunk, [1] columns, [2] output stride
// (all rows), [3] first output column, [4] scale plane, [5] bias plane, [6] tokens.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> WD: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32> /*SG_ARGS*/) {
    g_lid = lid;
    /*SG_INIT*/
    let job = group_index(wid, nwg);
    let rows = prm[0];
    if job >= rows * prm[6] {
        return;
    }
    g_cols = prm[1];
    g_soff = prm[4];
    g_boff = prm[5];
    let row = job % rows;
    let t = job / rows;
    var acc = 0.0;
    for (var c = lid; c < g_cols; c = c + WG) {
        acc = acc + w_value(row, c) * X[t * g_cols + c];
    }
    let total = wg_sum(acc);
    if lid == 0u {
        Y[t * prm[2] + prm[3] + row] = total;
    }
}
