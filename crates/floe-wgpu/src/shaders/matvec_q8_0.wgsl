// x · wᵀ for Q8_0 weights and NT ≤ 4 tokens: R rows per workgroup, one 34-byte block (32
// values) per invocation and step; blocks are 2-byte aligned, so each is read as the nine u32
// words that hold it. prm: [0] rows in this chunk, [1] columns, [2] output stride, [3] first
// output column.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> WD: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

const RNT: u32 = R * NT;
var<workgroup> red: array<f32, RED>;

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
    let blocks = cols / 32u;
    let x_per_token = cols / 4u;
    var acc: array<f32, RNT>;
    for (var i = 0u; i < RNT; i = i + 1u) {
        acc[i] = 0.0;
    }
    for (var b = lid; b < blocks; b = b + WG) {
        var q: array<u32, R * 8u>;
        var dq: array<f32, R>;
        for (var r = 0u; r < R; r = r + 1u) {
            let start = (min(row0 + r, rows - 1u) * blocks + b) * 34u;
            let at = start >> 2u;
            let odd = (start & 2u) != 0u;
            var words: array<u32, 9>;
            for (var i = 0u; i < 9u; i = i + 1u) {
                words[i] = WD[at + i];
            }
            dq[r] = f16_bits_to_f32(select(words[0] & 0xffffu, words[0] >> 16u, odd));
            for (var j = 0u; j < 8u; j = j + 1u) {
                q[r * 8u + j] = select((words[j] >> 16u) | (words[j + 1u] << 16u), words[j + 1u], odd);
            }
        }
        for (var t = 0u; t < NT; t = t + 1u) {
            var xs: array<vec4<f32>, 8>;
            var sumx = 0.0;
            for (var i = 0u; i < 8u; i = i + 1u) {
                let v = X[t * x_per_token + b * 8u + i];
                xs[i] = v;
                sumx = sumx + (v.x + v.y) + (v.z + v.w);
            }
            for (var r = 0u; r < R; r = r + 1u) {
                var d = 0.0;
                for (var j = 0u; j < 8u; j = j + 1u) {
                    let word = q[r * 8u + j];
                    if DECODE == 0u {
                        // Bytes offset by 128 (q + 128 in 0..255) in the top of a mantissa of 1.0.
                        let u = word ^ 0x80808080u;
                        let m = vec4<f32>(
                            bitcast<f32>(((u << 15u) & 0x007f8000u) | 0x3f800000u),
                            bitcast<f32>(((u << 7u) & 0x007f8000u) | 0x3f800000u),
                            bitcast<f32>(((u >> 1u) & 0x007f8000u) | 0x3f800000u),
                            bitcast<f32>(((u >> 9u) & 0x007f8000u) | 0x3f800000u));
                        d = d + dot(m, xs[j]);
                    } else {
                        let v = vec4<f32>(
                            f32(bitcast<i32>(word << 24u) >> 24u),
                            f32(bitcast<i32>(word << 16u) >> 24u),
                            f32(bitcast<i32>(word << 8u) >> 24u),
                            f32(bitcast<i32>(word) >> 24u));
                        d = d + dot(v, xs[j]);
                    }
                }
                if DECODE == 0u {
                    // Σ q·x = 256·Σ (1 + (q + 128)/256)·x − 384·Σ x.
                    acc[t * R + r] = acc[t * R + r] + dq[r] * (256.0 * d - 384.0 * sumx);
                } else {
                    acc[t * R + r] = acc[t * R + r] + dq[r] * d;
                }
            }
        }
    }
/*MV_FINISH*/
}
