// Element-wise operations. prm: [0] n elements, [1] op, [2] columns of a (for a [rows, 1] b).
// op 0: a + b, 1: a * b, 2: a * b[row], 3: silu(a) * b, 4: silu(a), 5: sigmoid(a),
// 6: silu(gate) * up of A's rows [gate | up], each half [2] columns wide (SwiGLU of a fused
// gate/up projection; B unused).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = group_index(wid, nwg) * 256u + lid;
    if i >= prm[0] {
        return;
    }
    let op = prm[1];
    if op == 6u {
        let at = (i / prm[2]) * 2u * prm[2] + i % prm[2];
        O[i] = silu(A[at]) * A[at + prm[2]];
        return;
    }
    let a = A[i];
    var r: f32;
    if op == 0u {
        r = a + B[i];
    } else if op == 1u {
        r = a * B[i];
    } else if op == 2u {
        r = a * B[i / prm[2]];
    } else if op == 3u {
        r = silu(a) * B[i];
    } else if op == 4u {
        r = silu(a);
    } else {
        r = 1.0 / (1.0 + exp(-a));
    }
    O[i] = r;
}
