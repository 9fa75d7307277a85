// Router: softmax of each row and its k largest probabilities, one workgroup of 256 per row.
// Ties go to the lower expert id; a NaN logit counts as the lowest finite value. prm: [0] rows, [1] experts, [2] k,
// [3] renormalize. OUT per row: k expert ids (as u32, or with IDF = 1 as exact f32 values: a
// routing tensor), then k weights (f32 bits).
//
// No rounds of arg-max: the row is copied into workgroup memory (rows of up to 1024 experts;
// longer ones are read from the buffer), then every invocation scans the whole row (the same
// address across the workgroup at each step, so each read is one broadcast) for its maximum
// and sum of exponentials, and ranks its own experts by counting the experts better than each.
// An expert ranked below k writes itself to slot `rank`; one barrier later the first k
// invocations write the row out. The chain of barriers of a workgroup reduction per chosen
// expert is gone.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<u32>;

// MAX_K (256) slots of the chosen experts, in rank order.
var<workgroup> kept_p: array<f32, 256>;
var<workgroup> kept_i: array<u32, 256>;
// The row's logits (NaN replaced), when it has at most 1024.
var<workgroup> row_l: array<f32, 1024>;

// The lowest finite f32, standing in for a NaN logit (WGSL constants cannot be infinite).
const LOWEST: f32 = -3.4028235e38;

fn clean(v: f32) -> f32 {
    return select(v, LOWEST, v != v);
}

// Logit `j` of the row starting at `base` of a row of n.
fn logit(base: u32, j: u32, n: u32) -> f32 {
    if n <= 1024u {
        return row_l[j];
    }
    return clean(L[base + j]);
}

fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
    return v > w || (v == w && i < j);
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
    for (var j = lid; j < min(n, 1024u); j = j + 256u) {
        row_l[j] = clean(L[base + j]);
    }
    workgroupBarrier();
    var mx = LOWEST;
    for (var i = 0u; i < n; i = i + 1u) {
        mx = max(mx, logit(base, i, n));
    }
    var sum = 0.0;
    for (var i = 0u; i < n; i = i + 1u) {
        sum = sum + exp(logit(base, i, n) - mx);
    }
    for (var j = lid; j < n; j = j + 256u) {
        let v = logit(base, j, n);
        var rank = 0u;
        for (var i = 0u; i < n && rank < k; i = i + 1u) {
            rank = rank + u32(better(logit(base, i, n), i, v, j));
        }
        if rank < k {
            kept_i[rank] = j;
            kept_p[rank] = exp(v - mx) / sum;
        }
    }
    workgroupBarrier();
    if lid < k {
        var p = kept_p[lid];
        if prm[3] != 0u {
            var kept = 0.0;
            for (var r = 0u; r < k; r = r + 1u) {
                kept = kept + kept_p[r];
            }
            p = p / kept;
        }
        let out = row * 2u * k;
        if IDF == 1u {
            OUT[out + lid] = bitcast<u32>(f32(kept_i[lid]));
        } else {
            OUT[out + lid] = kept_i[lid];
        }
        OUT[out + k + lid] = bitcast<u32>(p);
    }
}
