// silu(gate) · up into O and, for the integer-dot product that reads it, its int8 blocks into
// XQ (quantize_block.wgsl): each workgroup computes and quantizes 8 blocks of 32 values, each
// value computed once, in `qx_value`, and stored by `qx_store`.
// prm: [0] blocks, [1] 0: gate is A and up is B, element for element; c > 0: A's rows are
// [gate | up], each half c columns wide (a fused gate/up projection; B unused).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@group(0) @binding(4) var<storage, read_write> XQ: array<u32>;

// silu(gate) · up of output element o.
fn qx_value(o: u32) -> f32 {
    let half = prm[1];
    if half == 0u {
        return silu(A[o]) * B[o];
    }
    let g = (o / half) * 2u * half + o % half;
    return silu(A[g]) * A[g + half];
}

fn qx_store(o: u32, v: f32) {
    O[o] = v;
}

/*QUANTIZE_BLOCK*/

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    g_lid = lid;
    let first = group_index(wid, nwg) * 8u;
    if first >= prm[0] {
        return;
    }
    let blocks = min(8u, prm[0] - first);
    quantize_blocks(first * 32u, blocks, first);
}
