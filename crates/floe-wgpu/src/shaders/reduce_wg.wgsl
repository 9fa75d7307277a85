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
