// x rows to int8 blocks (quantize_block.wgsl) for the integer-dot one-token kernels: each
// workgroup quantizes 8 consecutive blocks of 32 values, one code word per invocation.
// prm: [0] rows, [1] columns (a multiple of 32).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> XQ: array<u32>;

fn qx_value(i: u32) -> f32 {
    return X[i];
}

fn qx_store(i: u32, v: f32) {}

/*QUANTIZE_BLOCK*/

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    g_lid = lid;
    let first = group_index(wid, nwg) * 8u;
    let total = prm[0] * (prm[1] / 32u);
    if first >= total {
        return;
    }
    quantize_blocks(first * 32u, min(8u, total - first), first);
}
