    // Selected product: workgroup gi serves row group gi % prm[7] of selection gi / prm[7].
    let sel = gi / prm[7];
    row_group = gi % prm[7];
    has_work = sel < prm[15];
    let token = min(sel, prm[15] - 1u) / prm[8];
    let id_value = IDS[token * prm[14] + min(sel, prm[15] - 1u) % prm[8]];
    let id = u32(max(id_value, 0.0));
    // NaN fails every comparison, so it is bad too.
    bad = !(id_value >= 0.0 && id_value < f32(prm[13]) && fract(id_value) == 0.0);
    // A valid id of another chunk is that chunk's dispatch's work.
    has_work = has_work && ((bad && prm[11] == 0u) || (!bad && id >= prm[11] && id < prm[11] + prm[12]));
    wbyte = (id - min(id, prm[11])) * prm[10];
    xrow = sel / prm[9];
    yat = sel * prm[2] + prm[3];
