// Router: softmax of each row and its k largest probabilities, one workgroup of 256 per row.
// Ties go to the lower expert id. prm: [0] rows, [1] experts, [2] k, [3] renormalize.
// OUT per row: k expert ids (as u32, or with IDF = 1 as exact f32 values: a routing tensor),
// then k weights (f32 bits).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<u32>;

var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;
var<workgroup> chosen: array<u32, 256>;
var<workgroup> total: array<f32, 2>;

fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
    return v > w || (v == w && i < j);
}

fn is_chosen(j: u32, n: u32) -> bool {
    for (var c = 0u; c < n; c = c + 1u) {
        if chosen[c] == j {
            return true;
        }
    }
    return false;
}

// The best (value, index) over the workgroup of the candidates each invocation proposes.
fn reduce_best(lid: u32, v: f32, i: u32) {
    best_v[lid] = v;
    best_i[lid] = i;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if lid < s && better(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid]) {
            best_v[lid] = best_v[lid + s];
            best_i[lid] = best_i[lid + s];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = group_index(wid, nwg);
    if row >= prm[0] {
        return;
    }
    let n = prm[1];
    let k = prm[2];
    let base = row * n;
    // Maximum logit.
    var m = -3.4028235e38;
    for (var j = lid; j < n; j = j + 256u) {
        m = max(m, L[base + j]);
    }
    reduce_best(lid, m, 0u);
    let mx = best_v[0];
    workgroupBarrier();
    // Sum of exponentials (a tree over the workgroup, in best_v).
    var s = 0.0;
    for (var j = lid; j < n; j = j + 256u) {
        s = s + exp(L[base + j] - mx);
    }
    best_v[lid] = s;
    workgroupBarrier();
    for (var h = 128u; h > 0u; h = h >> 1u) {
        if lid < h {
            best_v[lid] = best_v[lid] + best_v[lid + h];
        }
        workgroupBarrier();
    }
    let sum = best_v[0];
    workgroupBarrier();
    // k rounds of arg-max over the experts not chosen yet.
    for (var r = 0u; r < k; r = r + 1u) {
        var bv = -3.4028235e38;
        var bi = 0xffffffffu;
        for (var j = lid; j < n; j = j + 256u) {
            let v = L[base + j];
            if !is_chosen(j, r) && better(v, j, bv, bi) {
                bv = v;
                bi = j;
            }
        }
        reduce_best(lid, bv, bi);
        if lid == 0u {
            chosen[r] = best_i[0];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        var kept = 0.0;
        for (var r = 0u; r < k; r = r + 1u) {
            kept = kept + exp(L[base + chosen[r]] - mx) / sum;
        }
        let out = row * 2u * k;
        for (var r = 0u; r < k; r = r + 1u) {
            var p = exp(L[base + chosen[r]] - mx) / sum;
            if prm[3] != 0u {
                p = p / kept;
            }
            if IDF == 1u {
                OUT[out + r] = bitcast<u32>(f32(chosen[r]));
            } else {
                OUT[out + r] = chosen[r];
            }
            OUT[out + k + r] = bitcast<u32>(p);
        }
    }
}
