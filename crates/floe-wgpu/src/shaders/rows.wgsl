// Data movement. prm: [0] op, [1] output elements, [2] output columns, [3] input columns, [4] start column,
// [5], [6] (op 2 only) first output element, output row width.
// op 0: slice columns (out[r, c] = x[r, start + c]); op 1: gather rows (out[i, c] = x[idx[i], c]);
// op 2: a column window into rows of out: out[[5] + r · [6] + c] = x[r, [4] + c] (write_rows
// and the KV-cache appends: a copy inside the compute pass, where copy_buffer_to_buffer would
// end it).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> IDX: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = group_index(wid, nwg) * 256u + lid;
    if i >= prm[1] {
        return;
    }
    let r = i / prm[2];
    let c = i % prm[2];
    if prm[0] == 2u {
        O[prm[5] + r * prm[6] + c] = X[r * prm[3] + prm[4] + c];
        return;
    }
    if prm[0] == 0u {
        O[i] = X[r * prm[3] + prm[4] + c];
    } else {
        O[i] = X[IDX[r] * prm[3] + c];
    }
}
