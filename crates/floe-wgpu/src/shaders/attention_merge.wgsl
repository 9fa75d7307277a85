// The output of attention split over positions (`attention.wgsl` with several splits), one
// workgroup per (query row, head): from each split's (maximum m_s, sum l_s, unnormalized sums
// o_s) in P, with M = max m_s and w_s = exp(m_s − M), O = Σ w_s·o_s / Σ w_s·l_s. prm as
// attention.wgsl's ([0] query rows, [1] heads, [3] head_dim, [7] splits, at most MAX_SPLITS).
// `attention_merge_q` also writes the int8 blocks of each head's output to XQ
// (quantize_block.wgsl; head_dim a multiple of 32 and at most MAX_Q_HEAD_DIM).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
/*Q_DECL*/

const MAX_SPLITS: u32 = 256u;

var<workgroup> weights: array<f32, MAX_SPLITS>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32> /*SG_ARGS*/) {
    g_lid = lid;
    /*SG_INIT*/
    let r = group_index(wid, nwg);
    if r >= prm[0] * prm[1] {
        return;
    }
    let hd = prm[3];
    let splits = prm[7];
    let stride = hd + 2u;
    let base = r * splits * stride;
    let qb = r * hd;
    var local_max = -3.4028235e38;
    for (var s = lid; s < splits; s = s + WG) {
        local_max = max(local_max, P[base + s * stride]);
    }
    let m = wg_max(local_max);
    var local_sum = 0.0;
    for (var s = lid; s < splits; s = s + WG) {
        let w = exp(P[base + s * stride] - m);
        weights[s] = w;
        local_sum = local_sum + w * P[base + s * stride + 1u];
    }
    let inv = 1.0 / wg_sum(local_sum);
    workgroupBarrier();
    for (var d = lid; d < hd; d = d + WG) {
        var acc = 0.0;
        for (var s = 0u; s < splits; s = s + 1u) {
            acc = acc + weights[s] * P[base + s * stride + 2u + d];
        }
        O[qb + d] = acc * inv;
        /*MERGE_KEEP*/
    }
    /*MERGE_QUANTIZE*/
}
