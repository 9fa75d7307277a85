// Rows of an embedding table, dequantized. prm: [0] output elements, [1] columns, [2] scale
// plane byte offset, [3] bias plane byte offset. IDX: pairs (output row, table row in this chunk).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> IDX: array<u32>;
@group(0) @binding(2) var<storage, read> WD: array<u32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = group_index(wid, nwg) * 256u + lid;
    if i >= prm[0] {
        return;
    }
    g_cols = prm[1];
    g_soff = prm[2];
    g_boff = prm[3];
    let pair = i / g_cols;
    let c = i % g_cols;
    O[IDX[2u * pair] * g_cols + c] = w_value(IDX[2u * pair + 1u], c);
}
