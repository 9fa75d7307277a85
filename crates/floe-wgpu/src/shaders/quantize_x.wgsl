// x rows to int8 for the integer-dot one-token kernels: one invocation per block of 32 values
// of a row. A block becomes 12 words (48 bytes, three 16-byte units): 8 words of int8 codes
// q = round(x / d) with d = max |x| / 127 (so |x − d·q| ≤ max |x| / 254), then d and Σ x (exact,
// in f32), then two zero words. ORDER 0 keeps the values in order (4 per word); ORDER 1
// interleaves each 8 values as (0, 2, 4, 6), (1, 3, 5, 7), the order in which a 4-bit code word
// splits into two words of byte-wide codes (`w & 0x0f0f0f0f`, `(w >> 4) & 0x0f0f0f0f`).
// prm: [0] rows, [1] columns (a multiple of 32).
@group(0) @binding(0) var<storage, read> prm: array<u32, 16>;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Q: array<u32>;

// The value (of a block) whose code is byte p (of the block's 32): ORDER 1 interleaves.
fn value_at(p: u32) -> u32 {
    if ORDER == 1u {
        let e = p & 7u;
        return (p & ~7u) | ((e & 3u) * 2u + (e >> 2u));
    }
    return p;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let block = group_index(wid, nwg) * 64u + lid;
    let blocks = prm[0] * (prm[1] / 32u);
    if block >= blocks {
        return;
    }
    let at = block * 32u;
    var most = 0.0;
    var sum = 0.0;
    for (var v = 0u; v < 32u; v = v + 1u) {
        let x = X[at + v];
        most = max(most, abs(x));
        sum = sum + x;
    }
    // A NaN anywhere in the block makes d NaN, so the products see it (max may drop a NaN).
    let d = select(most / 127.0, sum, sum != sum);
    let inv = select(0.0, 127.0 / most, most > 0.0);
    let out = block * 12u;
    for (var w = 0u; w < 8u; w = w + 1u) {
        var word = 0u;
        for (var b = 0u; b < 4u; b = b + 1u) {
            let v = value_at(w * 4u + b);
            let q = i32(clamp(round(X[at + v] * inv), -127.0, 127.0));
            word = word | ((u32(q) & 0xffu) << (b * 8u));
        }
        Q[out + w] = word;
    }
    Q[out + 8u] = bitcast<u32>(d);
    Q[out + 9u] = bitcast<u32>(sum);
    Q[out + 10u] = 0u;
    Q[out + 11u] = 0u;
}
