// x · wᵀ for one token (decode, and each selection of an expert-indexed product): a workgroup
// of WG invocations computes R = WG / TPR slots of NR (1, 2, 4 or 8) consecutive output rows, TPR
// invocations per slot. Each invocation sums whole 16-byte weight units of its NR rows: it loads
// the unit's x values once (`load_x`, from the format's snippet) and reuses them for every row
// (`row_dot`), so NR rows cost one set of x loads. Then the slot's TPR partial sums are added in
// workgroup memory. No private arrays: everything lives in registers (dynamically indexed
// private arrays are spilled to memory by some drivers).
// The format's snippet declares the weight bindings (1 and, for affine weights, 2), then come
// X, Y and, for selected products, the routes IDS.
// prm: [0] rows in this chunk, [1] columns, [2] output stride, [3] first output column,
// [4] scale plane byte offset, [5] bias plane byte offset (both from the entry's start);
// selected products also [7] row groups per selection, [8] selections per token (k),
// [9] x rows per token divisor (k: x per token, 1: x per selection), [10] entry stride in
// bytes, [11] first entry of this chunk, [12] entries in this chunk, [13] entries in the stack,
// [14] route columns (2k), [15] selections.
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
/*WEIGHT_DECL*/
@group(0) @binding(/*BX*/) var<storage, read> X: array</*XTYPE*/>;
@group(0) @binding(/*BY*/) var<storage, read_write> Y: array<f32>;
/*SEL_DECL*/

const R: u32 = WG / TPR;
// Partial sums of rows 0-3 and (when NR = 8) 4-7 of each slot.
var<workgroup> red: array<vec4<f32>, WG>;
var<workgroup> red_hi: array<vec4<f32>, select(1u, WG, NR > 4u)>;

// The sums of an invocation's NR rows: rows 0-3 in `lo`, 4-7 in `hi`.
struct Sums {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn add_sums(a: Sums, b: Sums) -> Sums {
    return Sums(a.lo + b.lo, a.hi + b.hi);
}

/*UNIT_FN*/

// The unit `u` of rows row0 .. row0 + NR (row indices clamped to `last`, the caller drops those
// rows' sums) times x.
fn unit_rows(wbyte: u32, row0: u32, last: u32, u: u32, units: u32, xu: u32) -> Sums {
    let xs = load_x(xu, u);
    var r: Sums;
    r.lo.x = row_dot(wbyte, min(row0, last), u, units, xs);
    if NR > 1u {
        r.lo.y = row_dot(wbyte, min(row0 + 1u, last), u, units, xs);
    }
    if NR > 2u {
        r.lo.z = row_dot(wbyte, min(row0 + 2u, last), u, units, xs);
        r.lo.w = row_dot(wbyte, min(row0 + 3u, last), u, units, xs);
    }
    if NR > 4u {
        r.hi.x = row_dot(wbyte, min(row0 + 4u, last), u, units, xs);
        r.hi.y = row_dot(wbyte, min(row0 + 5u, last), u, units, xs);
        r.hi.z = row_dot(wbyte, min(row0 + 6u, last), u, units, xs);
        r.hi.w = row_dot(wbyte, min(row0 + 7u, last), u, units, xs);
    }
    return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let rows = prm[0];
    let cols = prm[1];
    let gi = group_index(wid, nwg);
    let lane = lid % TPR;
    // What this workgroup computes: its group of rows, the entry's byte offset in the weight
    // buffer, the x row (in 16-byte units), the output index of row 0, whether it has work at
    // all and whether its expert id is outside the stack (a NaN row).
    var row_group = gi;
    var wbyte = 0u;
    var xrow = 0u;
    var yat = prm[3];
    var has_work = true;
    var bad = false;
/*LOCATE*/
    let row0 = (row_group * R + lid / TPR) * NR;
    let units = cols / UNIT;
    let xu = x_row_start(xrow, cols);
    var acc: Sums;
    if has_work && !bad && row0 < rows {
        let last = rows - 1u;
        var u = lane;
        for (; u + TPR < units; u = u + 2u * TPR) {
            let a = unit_rows(wbyte, row0, last, u, units, xu);
            let b = unit_rows(wbyte, row0, last, u + TPR, units, xu);
            acc = add_sums(acc, add_sums(a, b));
        }
        if u < units {
            acc = add_sums(acc, unit_rows(wbyte, row0, last, u, units, xu));
        }
    }
    red[lid] = acc.lo;
    if NR > 4u {
        red_hi[lid] = acc.hi;
    }
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
        if lane < s {
            red[lid] = red[lid] + red[lid + s];
            if NR > 4u {
                red_hi[lid] = red_hi[lid] + red_hi[lid + s];
            }
        }
        workgroupBarrier();
    }
    if lane == 0u && has_work {
        let lo = red[lid];
        var hi = vec4<f32>(0.0);
        if NR > 4u {
            hi = red_hi[lid];
        }
        for (var j = 0u; j < NR; j = j + 1u) {
            if row0 + j < rows {
                let sum = select(lo[j & 3u], hi[j & 3u], j >= 4u);
                Y[yat + row0 + j] = select(sum, bitcast<f32>(0x7fc00000u), bad);
            }
        }
    }
}
