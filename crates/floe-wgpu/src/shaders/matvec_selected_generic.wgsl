// x · wᵀ of the stack entries a routing tensor selects, for any format and shape, one
// workgroup per (selection, output row): the path for shapes the vectorized kernels do not take.
// prm as the selected vectorized kernels ([0] rows, [1] columns, [2] output stride, [3] 0,
// [4] scale plane, [5] bias plane (within an entry), [7] k, [8] x has a row per selection,
// [9] first entry of this chunk, [10] entries in it, [11] entries of the stack, [12] this
// dispatch writes the NaN rows of bad ids, [14] selections, [15] entry stride in bytes).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> WD: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<storage, read> IDS: array<f32>;

var<private> g_wbase: u32;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32> /*SG_ARGS*/) {
    g_lid = lid;
    /*SG_INIT*/
    let rows = prm[0];
    let job = group_index(wid, nwg);
    let sel = job / rows;
    if sel >= prm[14] {
        return;
    }
    let row = job % rows;
    let k = prm[7];
    let idf = IDS[(sel / k) * 2u * k + sel % k];
    let y_at = sel * prm[2] + prm[3] + row;
    if !(idf >= 0.0 && idf < f32(prm[11]) && fract(idf) == 0.0) {
        if prm[12] != 0u && lid == 0u {
            var nan_bits = 0x7fc00000u;
            Y[y_at] = bitcast<f32>(nan_bits);
        }
        return;
    }
    let id = u32(idf);
    if id < prm[9] || id - prm[9] >= prm[10] {
        return;
    }
    let w_off = (id - prm[9]) * prm[15];
    g_cols = prm[1];
    g_soff = prm[4] + w_off;
    g_boff = prm[5] + w_off;
    g_wbase = w_off / 4u;
    let x_row = select(sel / k, sel, prm[8] != 0u);
    var acc = 0.0;
    for (var c = lid; c < g_cols; c = c + WG) {
        acc = acc + w_value(row, c) * X[x_row * g_cols + c];
    }
    let total = wg_sum(acc);
    if lid == 0u {
        Y[y_at] = total;
    }
}
