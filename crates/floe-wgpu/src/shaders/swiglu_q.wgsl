// silu(gate) · up into O and, for the integer-dot product that reads it, its int8 blocks into
// XQ (quantize_block.wgsl): each workgroup computes 8 blocks of 32 values, then quantizes them.
// prm: [0] blocks, [1] 0: gate is A and up is B, element for element; c > 0: A's rows are
// [gate | up], each half c columns wide (a fused gate/up projection; B unused).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@group(0) @binding(4) var<storage, read_write> XQ: array<u32>;

fn qx_value(i: u32) -> f32 {
    return O[i];
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
    let at = first * 32u;
    let half = prm[1];
    for (var i = lid; i < blocks * 32u; i = i + WG) {
        let o = at + i;
        if half == 0u {
            O[o] = silu(A[o]) * B[o];
        } else {
            let g = (o / half) * 2u * half + o % half;
            O[o] = silu(A[g]) * A[g + half];
        }
    }
    storageBarrier();
    quantize_blocks(at, blocks, first);
}
