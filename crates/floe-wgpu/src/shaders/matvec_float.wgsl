// x · wᵀ for f32 / f16 / bf16 weights (FTYPE 0 / 1 / 2) and NT ≤ 4 tokens: R rows per
// workgroup, each invocation reading 16-byte units (UNIT values) of every row.
// prm: [0] rows in this chunk, [1] columns, [2] output stride, [3] first output column.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> W4: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

const RNT: u32 = R * NT;
var<workgroup> red: array<f32, RED>;

fn pair(w: u32) -> vec2<f32> {
    if FTYPE == 1u {
        return unpack2x16float(w);
    }
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32> /*SG_ARGS*/) {
    g_lid = lid;
    /*SG_INIT*/
    let rows = prm[0];
    let cols = prm[1];
    let row0 = group_index(wid, nwg) * R;
    if row0 >= rows {
        return;
    }
    let units = cols / UNIT;
    let x_per_token = cols / 4u;
    var acc: array<f32, RNT>;
    for (var i = 0u; i < RNT; i = i + 1u) {
        acc[i] = 0.0;
    }
    for (var u = lid; u < units; u = u + WG) {
        var w: array<vec4<u32>, R>;
        for (var r = 0u; r < R; r = r + 1u) {
            w[r] = W4[min(row0 + r, rows - 1u) * units + u];
        }
        for (var t = 0u; t < NT; t = t + 1u) {
            let xa = X[t * x_per_token + u * (UNIT / 4u)];
            if FTYPE == 0u {
                for (var r = 0u; r < R; r = r + 1u) {
                    acc[t * R + r] = acc[t * R + r] + dot(bitcast<vec4<f32>>(w[r]), xa);
                }
            } else {
                let xb = X[t * x_per_token + u * (UNIT / 4u) + 1u];
                for (var r = 0u; r < R; r = r + 1u) {
                    let a = vec4<f32>(pair(w[r].x), pair(w[r].y));
                    let b = vec4<f32>(pair(w[r].z), pair(w[r].w));
                    acc[t * R + r] = acc[t * R + r] + dot(a, xa) + dot(b, xb);
                }
            }
        }
    }
/*MV_FINISH*/
}
