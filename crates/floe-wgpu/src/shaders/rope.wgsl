// Rotary embedding, one invocation per output value. prm: [0] elements, [1] columns,
// [2] head_dim, [3] rotary_dim, [4] interleaved. CS: per row, rotary_dim / 2 (cos, sin) pairs
// computed on the CPU in f64.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> CS: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = group_index(wid, nwg) * 256u + lid;
    if i >= prm[0] {
        return;
    }
    let cols = prm[1];
    let hd = prm[2];
    let rot = prm[3];
    let row = i / cols;
    let d = (i % cols) % hd;
    let x = X[i];
    if d >= rot {
        O[i] = x;
        return;
    }
    let half = rot / 2u;
    var pair: u32;
    var partner: f32;
    var sign: f32;
    if prm[4] != 0u {
        pair = d / 2u;
        if d % 2u == 0u {
            partner = X[i + 1u];
            sign = -1.0;
        } else {
            partner = X[i - 1u];
            sign = 1.0;
        }
    } else {
        pair = d % half;
        if d < half {
            partner = X[i + half];
            sign = -1.0;
        } else {
            partner = X[i - half];
            sign = 1.0;
        }
    }
    let at = (row * half + pair) * 2u;
    O[i] = x * CS[at] + sign * partner * CS[at + 1u];
}
