// Workgroup reductions through subgroup operations, then one value per subgroup in workgroup memory.
var<workgroup> red1: array<f32, WG>;

fn wg_sum(v: f32) -> f32 {
    let s = subgroupAdd(v);
    if g_lane == 0u {
        red1[g_sgid] = s;
    }
    workgroupBarrier();
    var t = 0.0;
    for (var i = 0u; i < g_nsg; i = i + 1u) {
        t = t + red1[i];
    }
    workgroupBarrier();
    return t;
}

fn wg_max(v: f32) -> f32 {
    let s = subgroupMax(v);
    if g_lane == 0u {
        red1[g_sgid] = s;
    }
    workgroupBarrier();
    var t = red1[0];
    for (var i = 1u; i < g_nsg; i = i + 1u) {
        t = max(t, red1[i]);
    }
    workgroupBarrier();
    return t;
}
