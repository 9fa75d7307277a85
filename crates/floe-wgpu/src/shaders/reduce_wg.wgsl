// Workgroup reductions through workgroup memory (a tree over WG invocations, WG a power of two).
var<workgroup> red1: array<f32, WG>;

fn wg_sum(v: f32) -> f32 {
    red1[g_lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if g_lid < s {
            red1[g_lid] = red1[g_lid] + red1[g_lid + s];
        }
        workgroupBarrier();
    }
    let r = red1[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32) -> f32 {
    red1[g_lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if g_lid < s {
            red1[g_lid] = max(red1[g_lid], red1[g_lid + s]);
        }
        workgroupBarrier();
    }
    let r = red1[0];
    workgroupBarrier();
    return r;
}

var<workgroup> red_i: array<u32, WG>;

// The best (value, index) pair the workgroup proposes (values not NaN), as (value bits, index).
fn wg_best(v: f32, i: u32) -> vec2<u32> {
    red1[g_lid] = v;
    red_i[g_lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if g_lid < s && pair_better(red1[g_lid + s], red_i[g_lid + s], red1[g_lid], red_i[g_lid]) {
            red1[g_lid] = red1[g_lid + s];
            red_i[g_lid] = red_i[g_lid + s];
        }
        workgroupBarrier();
    }
    let r = vec2<u32>(bitcast<u32>(red1[0]), red_i[0]);
    workgroupBarrier();
    return r;
}
