// f32 x for the one-token kernels: the UNIT values of one weight unit (UNIT / 4 vec4s: 1, 2, 8
// or 16) and, for units of 32 or 64 values, the sums of each 32 (s0, s1: the offsets of
// mantissa-decoded codes and the affine bias need them), loaded once for all the rows an
// invocation computes.
struct XUnit {
    x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>,
    x4: vec4<f32>, x5: vec4<f32>, x6: vec4<f32>, x7: vec4<f32>,
    x8: vec4<f32>, x9: vec4<f32>, x10: vec4<f32>, x11: vec4<f32>,
    x12: vec4<f32>, x13: vec4<f32>, x14: vec4<f32>, x15: vec4<f32>,
    s0: f32, s1: f32,
}

fn vsum(a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, d: vec4<f32>) -> f32 {
    return dot((a + b) + (c + d), vec4<f32>(1.0));
}

// Where x row `xrow` starts in X (in vec4s).
fn x_row_start(xrow: u32, cols: u32) -> u32 {
    return xrow * (cols / 4u);
}

// The x values of unit `u` of the x row starting at `xu`.
fn load_x(xu: u32, u: u32) -> XUnit {
    let xo = xu + u * (UNIT / 4u);
    var v: XUnit;
    v.x0 = X[xo];
    if UNIT >= 8u {
        v.x1 = X[xo + 1u];
    }
    if UNIT >= 32u {
        v.x2 = X[xo + 2u];
        v.x3 = X[xo + 3u];
        v.x4 = X[xo + 4u];
        v.x5 = X[xo + 5u];
        v.x6 = X[xo + 6u];
        v.x7 = X[xo + 7u];
        v.s0 = vsum(v.x0, v.x1, v.x2, v.x3) + vsum(v.x4, v.x5, v.x6, v.x7);
    }
    if UNIT == 64u {
        v.x8 = X[xo + 8u];
        v.x9 = X[xo + 9u];
        v.x10 = X[xo + 10u];
        v.x11 = X[xo + 11u];
        v.x12 = X[xo + 12u];
        v.x13 = X[xo + 13u];
        v.x14 = X[xo + 14u];
        v.x15 = X[xo + 15u];
        v.s1 = vsum(v.x8, v.x9, v.x10, v.x11) + vsum(v.x12, v.x13, v.x14, v.x15);
    }
    return v;
}
