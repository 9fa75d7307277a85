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

var<workgroup> red_i: array<u32, WG>;

// The best (value, index) pair the workgroup proposes (values not NaN), as (value bits, index).
fn wg_best(v: f32, i: u32) -> vec2<u32> {
    let m = subgroupMax(v);
    let id = subgroupMin(select(0xffffffffu, i, v == m));
    if g_lane == 0u {
        red1[g_sgid] = m;
        red_i[g_sgid] = id;
    }
    workgroupBarrier();
    var bv = red1[0];
    var bi = red_i[0];
    for (var s = 1u; s < g_nsg; s = s + 1u) {
        if pair_better(red1[s], red_i[s], bv, bi) {
            bv = red1[s];
            bi = red_i[s];
        }
    }
    workgroupBarrier();
    return vec2<u32>(bitcast<u32>(bv), bi);
}
