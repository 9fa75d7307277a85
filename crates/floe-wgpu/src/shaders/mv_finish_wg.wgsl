    // Sum each accumulator over the workgroup (a tree in workgroup memory) and store rows
    // row0 .. row0 + R.
    for (var i = 0u; i < RNT; i = i + 1u) {
        red[i * WG + lid] = acc[i];
    }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if lid < s {
            for (var i = 0u; i < RNT; i = i + 1u) {
                red[i * WG + lid] = red[i * WG + lid] + red[i * WG + lid + s];
            }
        }
        workgroupBarrier();
    }
    if lid < RNT {
        let r = lid % R;
        if row0 + r < rows {
            Y[(lid / R) * prm[2] + prm[3] + row0 + r] = red[lid * WG];
        }
    }
