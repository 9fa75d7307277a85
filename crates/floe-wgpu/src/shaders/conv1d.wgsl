// Causal depthwise conv1d with a rolling state, one invocation per channel of one weight chunk:
// the channel's KS taps and its KS - 1 previous inputs (from S) are held in registers, the time
// steps are run in order, and the last KS - 1 inputs are written back to S (each invocation
// reads and writes only its own channel's column of S, so the in-place update cannot race).
// prm: [0] time steps T, [1] channels C, [2] first channel of this chunk, [3] channels in this
// chunk, [4] activation (0 none, 1 silu, 2 sigmoid), [5] scale plane, [6] bias plane.
// KS (taps) is a constant; WD is the weight chunk (dequant.wgsl).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> WD: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> S: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;

fn activate(x: f32, f: u32) -> f32 {
    if f == 1u {
        return x / (1.0 + exp(-x));
    } else if f == 2u {
        return 1.0 / (1.0 + exp(-x));
    }
    return x;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = group_index(wid, nwg) * 64u + lid;
    if i >= prm[3] {
        return;
    }
    let channels = prm[1];
    let c = prm[2] + i;
    let f = prm[4];
    g_cols = KS;
    g_soff = prm[5];
    g_boff = prm[6];
    var w: array<f32, KS>;
    var window: array<f32, KS>;
    for (var j = 0u; j < KS; j = j + 1u) {
        w[j] = w_value(i, j);
    }
    for (var j = 0u; j + 1u < KS; j = j + 1u) {
        window[j] = S[j * channels + c];
    }
    for (var t = 0u; t < prm[0]; t = t + 1u) {
        window[KS - 1u] = X[t * channels + c];
        var acc = 0.0;
        for (var j = 0u; j < KS; j = j + 1u) {
            acc = acc + w[j] * window[j];
        }
        O[t * channels + c] = activate(acc, f);
        for (var j = 0u; j + 1u < KS; j = j + 1u) {
            window[j] = window[j + 1u];
        }
    }
    for (var j = 0u; j + 1u < KS; j = j + 1u) {
        S[j * channels + c] = window[j];
    }
}
