// The gated delta rule, one invocation per (value head h, value dimension j): it owns column j
// of head h's state (DK values, held in registers), so the in-place update cannot race. For each
// token in order it normalizes the token's query and key of key head h / (nv / nk), computes the
// gates, decays its column, subtracts the key's memory, adds the key times the update, and
// writes the output q·S[:, j].
// prm: [0] tokens T, [1] key heads nk, [2] value heads nv, [3] value dim dv, [4] query scale
// (f32 bits), [5] L2-normalize (1) or not (0), [6] L2 epsilon (f32 bits). DK (key dim) is a
// constant. QKV [T, 2·nk·DK + nv·dv], G [T, 2·nv] (b then a), AL / DT [nv], S [nv·DK, dv],
// O [T, nv·dv].
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> QKV: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> AL: array<f32>;
@group(0) @binding(4) var<storage, read> DT: array<f32>;
@group(0) @binding(5) var<storage, read_write> S: array<f32>;
@group(0) @binding(6) var<storage, read_write> O: array<f32>;

fn softplus(x: f32) -> f32 {
    return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = group_index(wid, nwg) * 64u + lid;
    let nk = prm[1];
    let nv = prm[2];
    let dv = prm[3];
    if i >= nv * dv {
        return;
    }
    let h = i / dv;
    let j = i % dv;
    let kh = h / (nv / nk);
    let cols = 2u * nk * DK + nv * dv;
    let scale = bitcast<f32>(prm[4]);
    let eps = bitcast<f32>(prm[6]);
    let rate = exp(AL[h]);
    let dt = DT[h];
    var s: array<f32, DK>;
    for (var r = 0u; r < DK; r = r + 1u) {
        s[r] = S[(h * DK + r) * dv + j];
    }
    for (var t = 0u; t < prm[0]; t = t + 1u) {
        let qb = t * cols + kh * DK;
        let kb = t * cols + nk * DK + kh * DK;
        var qf = scale;
        var kf = 1.0;
        if prm[5] == 1u {
            var qs = 0.0;
            var ks = 0.0;
            for (var r = 0u; r < DK; r = r + 1u) {
                qs = qs + QKV[qb + r] * QKV[qb + r];
                ks = ks + QKV[kb + r] * QKV[kb + r];
            }
            qf = scale / sqrt(qs + eps);
            kf = 1.0 / sqrt(ks + eps);
        }
        let gb = t * 2u * nv;
        let beta = 1.0 / (1.0 + exp(-G[gb + h]));
        let decay = exp(-rate * softplus(G[gb + nv + h] + dt));
        var memory = 0.0;
        for (var r = 0u; r < DK; r = r + 1u) {
            s[r] = s[r] * decay;
            memory = memory + s[r] * QKV[kb + r];
        }
        let u = beta * (QKV[t * cols + 2u * nk * DK + h * dv + j] - memory * kf);
        let uk = u * kf;
        var o = 0.0;
        for (var r = 0u; r < DK; r = r + 1u) {
            s[r] = s[r] + QKV[kb + r] * uk;
            o = o + s[r] * QKV[qb + r];
        }
        O[t * nv * dv + h * dv + j] = o * qf;
    }
    for (var r = 0u; r < DK; r = r + 1u) {
        S[(h * DK + r) * dv + j] = s[r];
    }
}
