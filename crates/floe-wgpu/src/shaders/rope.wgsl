// Rotary embedding, one invocation per output value. prm: [0] elements, [1] columns,
// [2] head_dim, [3] rotary_dim, [4] interleaved. CS: per row, rotary_dim / 2 (cos, sin) pairs
// computed on the CPU in f64.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> CS: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

/*ROPE_PAIR*/

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = group_index(wid, nwg) * 256u + lid;
    if i >= prm[0] {
        return;
    }
    let cols = prm[1];
    let rot = prm[3];
    let row = i / cols;
    let d = (i % cols) % prm[2];
    let x = X[i];
    if d >= rot {
        O[i] = x;
        return;
    }
    let p = rope_pair(d, rot, prm[4] != 0u);
    let at = (row * (rot / 2u) + p.pair) * 2u;
    O[i] = x * CS[at] + p.sign * X[i - d + p.partner] * CS[at + 1u];
}
