// Causal grouped-query attention: a workgroup per (query row, head, split), each split a range
// of at most prm[6] positions. Scores, softmax and the probability-weighted sum of value rows
// are one kernel. Positions go in chunks of CHUNK whose probabilities stay in workgroup memory,
// with the softmax kept online (a running maximum and sum; the sums so far are rescaled when
// the maximum grows), so nothing goes through global memory between the phases and any context
// length fits. With one split the workgroup writes the head's output; with several (decode at
// long contexts, where query rows × heads alone would leave most of the GPU idle) it writes its
// partial result, (maximum, sum, then head_dim unnormalized sums), for `attention_merge.wgsl`.
// - Scores: POS positions at a time, LANES invocations each; each invocation sums every
//   LANES-th product of its position's dot (so a position's lanes read adjacent key values),
//   16 of them with independent loads per step, and the lanes' partial sums meet in workgroup
//   memory.
// - Weighted sum: `dl` invocations (a power of two, 4·dl ≥ head_dim where head_dim ≤ 4·WG)
//   cover 4·dl dimensions (4 each, dl apart) and WG / dl groups of them take every
//   (WG / dl)-th position, 4 positions with independent loads per step; the groups' sums meet
//   in workgroup memory at the end. A head wider than 4·WG is done 4·WG dimensions per pass,
//   the scores computed again for each.
// prm: [0] query rows, [1] heads, [2] kv heads, [3] head_dim, [4] past (query row t is at
// position past + t), [5] scale (f32 bits), [6] positions per split, [7] splits. `attention_q`
// (one split) also writes the int8 blocks of each head's output to XQ (quantize_block.wgsl;
// head_dim a multiple of 32 and at most MAX_Q_HEAD_DIM, so blocks never straddle heads).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
/*Q_DECL*/

const LANES: u32 = 8u;
const POS: u32 = WG / LANES;
const CHUNK: u32 = 1024u;

var<workgroup> part_scores: array<f32, WG>;
var<workgroup> probs: array<f32, CHUNK>;
var<workgroup> part_sums: array<vec4<f32>, WG>;

// Σ Q[qb + e]·K[kb + e] over e = d, d + LANES, d + 2·LANES, d + 3·LANES below hd.
fn qk4(qb: u32, kb: u32, d: u32, hd: u32) -> f32 {
    let last = hd - 1u;
    let e = min(vec4<u32>(d, d + LANES, d + 2u * LANES, d + 3u * LANES), vec4<u32>(last));
    let live = vec4<f32>(vec4<u32>(d, d + LANES, d + 2u * LANES, d + 3u * LANES) < vec4<u32>(hd));
    let q = vec4<f32>(Q[qb + e.x], Q[qb + e.y], Q[qb + e.z], Q[qb + e.w]) * live;
    return dot(q, vec4<f32>(K[kb + e.x], K[kb + e.y], K[kb + e.z], K[kb + e.w]));
}

// Value row `pos`'s dimensions `e` of kv head `kvh`.
fn v4(pos: u32, kv: u32, kvh: u32, hd: u32, e: vec4<u32>) -> vec4<f32> {
    let vb = (pos * kv + kvh) * hd;
    return vec4<f32>(V[vb + e.x], V[vb + e.y], V[vb + e.z], V[vb + e.w]);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32> /*SG_ARGS*/) {
    g_lid = lid;
    /*SG_INIT*/
    let r = group_index(wid, nwg);
    let heads = prm[1];
    let splits = prm[7];
    if r >= prm[0] * heads * splits {
        return;
    }
    let split = r % splits;
    let rh = r / splits;
    let h = rh % heads;
    let t = rh / heads;
    let hd = prm[3];
    let kv = prm[2];
    let kvh = h / (heads / kv);
    let visible = prm[4] + t + 1u;
    let begin = min(split * prm[6], visible);
    let end = min(begin + prm[6], visible);
    let qb = (t * heads + h) * hd;
    let scale = bitcast<f32>(prm[5]);

    let lane = lid % LANES;
    let slot = lid / LANES;
    var dl = 1u;
    while dl < WG && 4u * dl < hd {
        dl = dl * 2u;
    }
    let groups = WG / dl;
    let c = lid % dl;
    let g = lid / dl;
    let last = hd - 1u;
    for (var d0 = 0u; d0 < hd; d0 = d0 + 4u * dl) {
        // This invocation's 4 dimensions, clamped into the head (the clamped ones are dropped).
        let e = vec4<u32>(
            min(d0 + c, last),
            min(d0 + c + dl, last),
            min(d0 + c + 2u * dl, last),
            min(d0 + c + 3u * dl, last)
        );
        var run_max = -3.4028235e38;
        var run_sum = 0.0;
        var a = vec4<f32>(0.0);
        for (var c0 = begin; c0 < end; c0 = c0 + CHUNK) {
            let n = min(CHUNK, end - c0);
            var local_max = -3.4028235e38;
            for (var p0 = 0u; p0 < n; p0 = p0 + POS) {
                let p = p0 + slot;
                // Positions past the chunk read its last row; their scores are dropped.
                let kb = ((c0 + min(p, n - 1u)) * kv + kvh) * hd;
                var acc = 0.0;
                for (var d = lane; d < hd; d = d + 16u * LANES) {
                    acc = acc + ((qk4(qb, kb, d, hd) + qk4(qb, kb, d + 4u * LANES, hd))
                        + (qk4(qb, kb, d + 8u * LANES, hd) + qk4(qb, kb, d + 12u * LANES, hd)));
                }
                part_scores[lid] = acc;
                workgroupBarrier();
                if lane == 0u && p < n {
                    var s = 0.0;
                    for (var i = 0u; i < LANES; i = i + 1u) {
                        s = s + part_scores[lid + i];
                    }
                    s = s * scale;
                    probs[p] = s;
                    local_max = max(local_max, s);
                }
                workgroupBarrier();
            }
            let new_max = max(run_max, wg_max(local_max));
            // The positions a lane-0 invocation scored are its own to exponentiate.
            var local_sum = 0.0;
            if lane == 0u {
                for (var p = slot; p < n; p = p + POS) {
                    let x = exp(probs[p] - new_max);
                    probs[p] = x;
                    local_sum = local_sum + x;
                }
            }
            let factor = exp(run_max - new_max);
            run_sum = run_sum * factor + wg_sum(local_sum);
            run_max = new_max;
            workgroupBarrier();
            a = a * factor;
            let top = n - 1u;
            for (var j = g; j < n; j = j + 4u * groups) {
                let j1 = j + groups;
                let j2 = j + 2u * groups;
                let j3 = j + 3u * groups;
                let p = vec4<f32>(
                    probs[j],
                    select(0.0, probs[min(j1, top)], j1 < n),
                    select(0.0, probs[min(j2, top)], j2 < n),
                    select(0.0, probs[min(j3, top)], j3 < n)
                );
                a = a + (p.x * v4(c0 + j, kv, kvh, hd, e) + p.y * v4(c0 + min(j1, top), kv, kvh, hd, e))
                    + (p.z * v4(c0 + min(j2, top), kv, kvh, hd, e) + p.w * v4(c0 + min(j3, top), kv, kvh, hd, e));
            }
            // The next chunk's scores overwrite probs.
            workgroupBarrier();
        }
        part_sums[lid] = a;
        workgroupBarrier();
        if g == 0u {
            var sum = vec4<f32>(0.0);
            for (var i = 0u; i < groups; i = i + 1u) {
                sum = sum + part_sums[c + i * dl];
            }
            // One split: the normalized output; several: this split's unnormalized sums.
            let inv = select(1.0, 1.0 / run_sum, splits == 1u);
            let at = select(qb, r * (hd + 2u) + 2u, splits > 1u);
            for (var i = 0u; i < 4u; i = i + 1u) {
                let d = d0 + c + i * dl;
                if d < hd {
                    O[at + d] = sum[i] * inv;
                    /*ATTN_KEEP*/
                }
            }
        }
        if splits > 1u && lid == 0u {
            O[r * (hd + 2u)] = run_max;
            O[r * (hd + 2u) + 1u] = run_sum;
        }
        workgroupBarrier();
    }
    /*ATTN_QUANTIZE*/
}
