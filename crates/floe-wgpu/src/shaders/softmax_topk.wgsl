// Router: softmax of each row and its k largest probabilities, one workgroup of WG per row.
// Ties go to the lower expert id. prm: [0] rows, [1] experts, [2] k, [3] renormalize.
// OUT per row: k expert ids (as u32, or with IDF = 1 as exact f32 values: a routing tensor),
// then k weights (f32 bits).
//
// Round r picks the best (logit, id) pair that is worse than round r − 1's pick: under the
// order of `pair_better` (a strict total order), those are exactly the pairs not chosen yet, so
// a round is one scan of the row and one `wg_best`, with no list of chosen ids to search.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<u32>;

var<workgroup> chosen: array<u32, 256>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32> /*SG_ARGS*/) {
    g_lid = lid;
    /*SG_INIT*/
    let row = group_index(wid, nwg);
    if row >= prm[0] {
        return;
    }
    let n = prm[1];
    let k = prm[2];
    let base = row * n;
    var m = -3.4028235e38;
    for (var j = lid; j < n; j = j + WG) {
        m = max(m, L[base + j]);
    }
    let mx = wg_max(m);
    var s = 0.0;
    for (var j = lid; j < n; j = j + WG) {
        s = s + exp(L[base + j] - mx);
    }
    let sum = wg_sum(s);
    var last_v = 0.0;
    var last_i = 0u;
    for (var r = 0u; r < k; r = r + 1u) {
        var bv = -3.4028235e38;
        var bi = 0xffffffffu;
        for (var j = lid; j < n; j = j + WG) {
            let v = L[base + j];
            let open = r == 0u || pair_better(last_v, last_i, v, j);
            if open && pair_better(v, j, bv, bi) {
                bv = v;
                bi = j;
            }
        }
        let best = wg_best(bv, bi);
        last_v = bitcast<f32>(best.x);
        last_i = best.y;
        if lid == 0u {
            chosen[r] = last_i;
        }
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
