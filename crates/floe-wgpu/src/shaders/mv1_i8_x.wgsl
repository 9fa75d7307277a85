// x quantized to int8 per 32 values (quantize_x.wgsl): a block is three 16-byte units (8 code
// words, then d, Σ x and Σ q), and one weight unit of the integer-dot kernels covers one block.
struct XUnit {
    a: vec4<u32>,
    b: vec4<u32>,
    d: f32,
    s: f32,
    codes: i32,
}

// Where x row `xrow` starts in X (in 16-byte units).
fn x_row_start(xrow: u32, cols: u32) -> u32 {
    return xrow * (cols / 32u) * 3u;
}

// The codes, scale, sum and code sum of block `u` of the x row starting at `xu`.
fn load_x(xu: u32, u: u32) -> XUnit {
    let at = xu + u * 3u;
    let m = X[at + 2u];
    return XUnit(X[at], X[at + 1u], bitcast<f32>(m.x), bitcast<f32>(m.y), bitcast<i32>(m.z));
}
