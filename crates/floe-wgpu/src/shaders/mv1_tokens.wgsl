    // Plain product of prm[6] tokens: workgroup gi serves row group gi % prm[7] of token
    // gi / prm[7] (each token reads the weights again; more tokens go to the tiled kernel).
    let token = gi / prm[7];
    row_group = gi % prm[7];
    has_work = token < prm[6];
    xrow = token;
    yat = token * prm[2] + prm[3];
