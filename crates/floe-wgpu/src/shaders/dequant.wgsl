// Reads one value of a stored weight, in any format, from the weight buffer WD (bound as u32
// words, bytes exactly as floe-quant stores them). Needs the constants FMT (0 f32, 1 f16,
// 2 bf16, 3 q8_0, 4 affine), BITS, GROUP and STYPE (affine scale type: 0 f32, 1 f16, 2 bf16),
// and g_cols / g_soff / g_boff (columns, byte offsets of the scale and bias planes) set first.
// In selected kernels the /*WB_*/ hooks add g_wbase (the entry's offset in words); elsewhere they are empty.
var<private> g_cols: u32;
var<private> g_soff: u32;
var<private> g_boff: u32;

fn wd_u16(byte: u32) -> u32 {
    return (WD[byte >> 2u] >> ((byte & 2u) * 8u)) & 0xffffu;
}

fn wd_scale(plane: u32, index: u32) -> f32 {
    if STYPE == 0u {
        return bitcast<f32>(WD[(plane >> 2u) + index]);
    } else if STYPE == 1u {
        return f16_bits_to_f32(wd_u16(plane + index * 2u));
    }
    return bf16_bits_to_f32(wd_u16(plane + index * 2u));
}

fn w_value(row: u32, col: u32) -> f32 {
    if FMT == 0u {
        return bitcast<f32>(WD[row * g_cols + col /*WB_WORD*/]);
    } else if FMT == 1u {
        return f16_bits_to_f32(wd_u16((row * g_cols + col) * 2u /*WB_BYTE*/));
    } else if FMT == 2u {
        return bf16_bits_to_f32(wd_u16((row * g_cols + col) * 2u /*WB_BYTE*/));
    } else if FMT == 3u {
        let start = (row * (g_cols / 32u) + col / 32u) * 34u /*WB_BYTE*/;
        let d = f16_bits_to_f32(wd_u16(start));
        let b = start + 2u + col % 32u;
        let q = (WD[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
        return d * f32(bitcast<i32>(q << 24u) >> 24u);
    }
    let per_word = 32u / BITS;
    let word = WD[row * (g_cols / per_word) + col / per_word /*WB_WORD*/];
    let q = (word >> ((col % per_word) * BITS)) & ((1u << BITS) - 1u);
    let g = row * (g_cols / GROUP) + col / GROUP;
    return f32(q) * wd_scale(g_soff, g) + wd_scale(g_boff, g);
}
