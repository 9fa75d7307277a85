// x · wᵀ for MLX affine weights and NT ≤ 4 tokens: R rows per workgroup, WG invocations
// splitting each row into units of 16·WPU bytes (UNIT values), each x unit loaded once and used
// for all R rows. Codes are decoded per DECODE (0: into the mantissa of 1.0, 1: converted).
// prm: [0] rows in this chunk, [1] columns, [2] output stride, [3] first output column,
// [4] scale plane byte offset, [5] bias plane byte offset.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> W4: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> WD: array<u32>;
@group(0) @binding(3) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

const RNT: u32 = R * NT;
const PARTS: u32 = UNIT / 32u;
const PER_WORD: u32 = 32u / BITS;
const MASK: u32 = (1u << BITS) - 1u;
const LO: u32 = 23u - BITS;
var<workgroup> red: array<f32, RED>;

/*AFFINE_SCALE*/

// 1 + q / 2^BITS for the code at bit s of w: its bits moved to the top of an f32 mantissa.
fn mantissa(w: u32, s: u32) -> f32 {
    var t: u32;
    if s <= LO {
        t = w << (LO - s);
    } else {
        t = w >> (s - LO);
    }
    return bitcast<f32>((t & (MASK << LO)) | 0x3f800000u);
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
    let groups_per_row = cols / GROUP;
    let x_per_token = cols / 4u;
    var acc: array<f32, RNT>;
    for (var i = 0u; i < RNT; i = i + 1u) {
        acc[i] = 0.0;
    }
    for (var u = lid; u < units; u = u + WG) {
        var w: array<vec4<u32>, R * WPU>;
        var sc: array<f32, R * PARTS>;
        var bi: array<f32, R * PARTS>;
        for (var r = 0u; r < R; r = r + 1u) {
            let rr = min(row0 + r, rows - 1u);
            for (var v = 0u; v < WPU; v = v + 1u) {
                w[r * WPU + v] = W4[(rr * units + u) * WPU + v];
            }
            for (var p = 0u; p < PARTS; p = p + 1u) {
                let g = rr * groups_per_row + (u * UNIT + p * 32u) / GROUP;
                sc[r * PARTS + p] = scale_at(prm[4], g);
                bi[r * PARTS + p] = scale_at(prm[5], g);
            }
        }
        for (var t = 0u; t < NT; t = t + 1u) {
            for (var p = 0u; p < PARTS; p = p + 1u) {
                var xs: array<vec4<f32>, 8>;
                var sumx = 0.0;
                for (var q = 0u; q < 8u; q = q + 1u) {
                    let v = X[t * x_per_token + u * (UNIT / 4u) + p * 8u + q];
                    xs[q] = v;
                    sumx = sumx + (v.x + v.y) + (v.z + v.w);
                }
                for (var r = 0u; r < R; r = r + 1u) {
                    var d = 0.0;
                    for (var j = 0u; j < BITS; j = j + 1u) {
                        let word_index = p * BITS + j;
                        let word = w[r * WPU + word_index / 4u][word_index % 4u];
                        for (var i = 0u; i < PER_WORD; i = i + 1u) {
                            let e = j * PER_WORD + i;
                            let xv = xs[e / 4u][e % 4u];
                            if DECODE == 0u {
                                d = d + mantissa(word, i * BITS) * xv;
                            } else {
                                d = d + f32((word >> (i * BITS)) & MASK) * xv;
                            }
                        }
                    }
                    let s = sc[r * PARTS + p];
                    let b = bi[r * PARTS + p];
                    if DECODE == 0u {
                        acc[t * R + r] = acc[t * R + r] + s * f32(1u << BITS) * (d - sumx) + b * sumx;
                    } else {
                        acc[t * R + r] = acc[t * R + r] + s * d + b * sumx;
                    }
                }
            }
        }
    }
/*MV_FINISH*/
}
