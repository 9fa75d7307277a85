// x values to int8 blocks, for the integer-dot one-token kernels. A block of 32 values becomes
// 12 words (48 bytes, three 16-byte units): 8 words of int8 codes q = round(x / d) with
// d = max |x| / 127 (so |x − d·q| ≤ max |x| / 254), then d and Σ x (in f32: the sum of the 8
// words' sums, each over its 4 values in code order), then Σ q (an i32) and a zero word. ORDER 0 keeps the
// values in order (4 per word); ORDER 1 interleaves each 8 values as (0, 2, 4, 6),
// (1, 3, 5, 7), the order in which a 4-bit code word splits into two words of byte-wide codes
// (`w & 0x0f0f0f0f`, `(w >> 4) & 0x0f0f0f0f`). The kernel provides `qx_value(i)` (x value i),
// `qx_store(i, v)` (called with each value as it is read: a kernel that computes its output
// in `qx_value` stores it there, so its f32 and int8 outputs are the same values and no
// storage barrier is needed between them; others do nothing), the u32 array `XQ` the blocks
// go to, g_lid and WG (a multiple of 8).

var<workgroup> qx_max: array<f32, WG>;
var<workgroup> qx_sum: array<f32, WG>;
var<workgroup> qx_codes: array<i32, WG>;

// The value (of a block) whose code is byte p (of the block's 32): ORDER 1 interleaves.
fn value_at(p: u32) -> u32 {
    if ORDER == 1u {
        let e = p & 7u;
        return (p & ~7u) | ((e & 3u) * 2u + (e >> 2u));
    }
    return p;
}

// Quantizes the `blocks` blocks of x values from `at` into XQ blocks `block0 ..`, one code word
// per invocation at a time. Called by the whole workgroup (it has barriers), with the same
// arguments in every invocation.
fn quantize_blocks(at: u32, blocks: u32, block0: u32) {
    let words = blocks * 8u;
    for (var first = 0u; first < words; first = first + WG) {
        let w = first + g_lid;
        let live = w < words;
        let k = w % 8u;
        let start = at + (w / 8u) * 32u;
        var x = vec4<f32>(0.0);
        if live {
            for (var b = 0u; b < 4u; b = b + 1u) {
                let i = start + value_at(k * 4u + b);
                x[b] = qx_value(i);
                qx_store(i, x[b]);
            }
        }
        let a = abs(x);
        qx_max[g_lid] = max(max(a.x, a.y), max(a.z, a.w));
        qx_sum[g_lid] = ((x.x + x.y) + x.z) + x.w;
        workgroupBarrier();
        if live {
            // The block's 8 words are invocations lead .. lead + 8 (WG and `first` are
            // multiples of 8).
            let lead = g_lid - k;
            var most = 0.0;
            var sum = 0.0;
            for (var i = 0u; i < 8u; i = i + 1u) {
                most = max(most, qx_max[lead + i]);
                sum = sum + qx_sum[lead + i];
            }
            // A NaN anywhere in the block makes d NaN, so the products see it (max may drop a
            // NaN).
            let d = select(most / 127.0, sum, sum != sum);
            let inv = select(0.0, 127.0 / most, most > 0.0);
            let q = vec4<i32>(clamp(round(x * inv), vec4<f32>(-127.0), vec4<f32>(127.0)));
            let out = (block0 + w / 8u) * 12u;
            XQ[out + k] = (u32(q.x) & 0xffu) | ((u32(q.y) & 0xffu) << 8u)
                | ((u32(q.z) & 0xffu) << 16u) | ((u32(q.w) & 0xffu) << 24u);
            qx_codes[g_lid] = (q.x + q.y) + (q.z + q.w);
            if k == 0u {
                XQ[out + 8u] = bitcast<u32>(d);
                XQ[out + 9u] = bitcast<u32>(sum);
                XQ[out + 11u] = 0u;
            }
        }
        workgroupBarrier();
        if live && k == 0u {
            var codes = 0;
            for (var i = 0u; i < 8u; i = i + 1u) {
                codes = codes + qx_codes[g_lid + i];
            }
            XQ[(block0 + w / 8u) * 12u + 10u] = bitcast<u32>(codes);
        }
        workgroupBarrier();
    }
}
