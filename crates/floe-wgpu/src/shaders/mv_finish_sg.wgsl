    // Sum each accumulator over the workgroup (subgroups first) and store rows row0 .. row0 + R.
    for (var i = 0u; i < RNT; i = i + 1u) {
        let s = subgroupAdd(acc[i]);
        if g_lane == 0u {
            red[g_sgid * RNT + i] = s;
        }
    }
    workgroupBarrier();
    if lid < RNT {
        var total = 0.0;
        for (var g = 0u; g < g_nsg; g = g + 1u) {
            total = total + red[g * RNT + lid];
        }
        let r = lid % R;
        if row0 + r < rows {
            Y[(lid / R) * prm[2] + prm[3] + row0 + r] = total;
        }
    }
