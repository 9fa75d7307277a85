// x · wᵀ for many tokens (prefill): 64 output rows × 32 tokens per workgroup, 32 columns of x
// and w staged through workgroup memory per step, each invocation computing 4 rows × 2 tokens.
// prm: [0] rows in this chunk, [1] columns, [2] output stride, [3] first output column,
// [4] scale plane, [5] bias plane, [6] tokens, [7] row tiles.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> WD: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

var<workgroup> ws: array<f32, 2112>; // 64 rows × 33
var<workgroup> xs: array<f32, 1056>; // 32 tokens × 33

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let tile = group_index(wid, nwg);
    let rows = prm[0];
    let tokens = prm[6];
    let row_tiles = prm[7];
    if tile >= row_tiles * ((tokens + 31u) / 32u) {
        return;
    }
    g_cols = prm[1];
    g_soff = prm[4];
    g_boff = prm[5];
    let n0 = (tile % row_tiles) * 64u;
    let t0 = (tile / row_tiles) * 32u;
    let my_r = (lid % 16u) * 4u;
    let my_t = (lid / 16u) * 2u;
    var acc: array<f32, 8>;
    for (var i = 0u; i < 8u; i = i + 1u) {
        acc[i] = 0.0;
    }
    for (var k0 = 0u; k0 < g_cols; k0 = k0 + 32u) {
        for (var i = 0u; i < 8u; i = i + 1u) {
            let e = lid + i * 256u;
            let r = e / 32u;
            let c = e % 32u;
            var v = 0.0;
            if n0 + r < rows && k0 + c < g_cols {
                v = w_value(n0 + r, k0 + c);
            }
            ws[r * 33u + c] = v;
        }
        for (var i = 0u; i < 4u; i = i + 1u) {
            let e = lid + i * 256u;
            let t = e / 32u;
            let c = e % 32u;
            var v = 0.0;
            if t0 + t < tokens && k0 + c < g_cols {
                v = X[(t0 + t) * g_cols + k0 + c];
            }
            xs[t * 33u + c] = v;
        }
        workgroupBarrier();
        for (var c = 0u; c < 32u; c = c + 1u) {
            let x0 = xs[my_t * 33u + c];
            let x1 = xs[(my_t + 1u) * 33u + c];
            for (var j = 0u; j < 4u; j = j + 1u) {
                let w = ws[(my_r + j) * 33u + c];
                acc[j] = acc[j] + w * x0;
                acc[4u + j] = acc[4u + j] + w * x1;
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i = i + 1u) {
        let r = n0 + my_r + i % 4u;
        let t = t0 + my_t + i / 4u;
        if r < rows && t < tokens {
            Y[t * prm[2] + prm[3] + r] = acc[i];
        }
    }
}
