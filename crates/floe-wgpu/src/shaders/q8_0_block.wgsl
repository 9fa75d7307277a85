// Reading one Q8_0 block (an f16 scale, 32 signed bytes: 34 bytes, 2-byte aligned) of the weight
// words WD as its scale and 8 aligned code words, from the 9 words that hold it.
@group(0) @binding(1) var<storage, read> WD: array<u32>;

struct Q8Block {
    lo: vec4<u32>,
    hi: vec4<u32>,
    d: f32,
}

fn block_word(lo: u32, hi: u32, odd: bool) -> u32 {
    return select((lo >> 16u) | (hi << 16u), hi, odd);
}

// The block starting at byte `start` of WD.
fn load_block(start: u32) -> Q8Block {
    let at = start >> 2u;
    let odd = (start & 2u) != 0u;
    let w0 = WD[at];
    let w1 = WD[at + 1u];
    let w2 = WD[at + 2u];
    let w3 = WD[at + 3u];
    let w4 = WD[at + 4u];
    let w5 = WD[at + 5u];
    let w6 = WD[at + 6u];
    let w7 = WD[at + 7u];
    let w8 = WD[at + 8u];
    var b: Q8Block;
    b.d = f16_bits_to_f32(select(w0 & 0xffffu, w0 >> 16u, odd));
    b.lo = vec4<u32>(block_word(w0, w1, odd), block_word(w1, w2, odd), block_word(w2, w3, odd), block_word(w3, w4, odd));
    b.hi = vec4<u32>(block_word(w4, w5, odd), block_word(w5, w6, odd), block_word(w6, w7, odd), block_word(w7, w8, odd));
    return b;
}
