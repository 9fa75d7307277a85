//! Byte compatibility with MLX's affine quantization, against the fixtures written by
//! `xtask/fixtures/mlx_quantize_fixture.py` (`mlx.core.quantize` / `mlx.core.dequantize`).
//!
//! - Our quantize of MLX's input reproduces MLX's `weight`, `scales` and `biases` bytes exactly
//!   (we implement the same algorithm in the same f32 arithmetic, see `affine.rs`).
//! - Our dequantize of MLX's bytes equals MLX's dequantized values exactly for f32 scales. For
//!   f16/bf16 MLX computes `T(T(q·scale) + bias)` in the scale dtype `T`: the product is rounded
//!   to `T` before the add. We compute `q·scale + bias` in f32 (where `q·scale` is exact) and
//!   round once, which is more accurate; when `q·scale` and `bias` nearly cancel, MLX's
//!   intermediate rounding (half an ulp of the product) can be several ulps of the result, so
//!   "within 1 ulp" does not hold for every value. The test therefore checks both computations
//!   exactly: ours equals `fl32(q·s + b)` and MLX's equals `T(T(q·s) + b)`, for every value, with
//!   q, s, b decoded from MLX's tensors independently of the crate, and reports how many values
//!   agree exactly and within 1 ulp.

use std::path::PathBuf;

use floe_quant::{quantize, QuantFormat, QuantMatrix, ScaleType};
use half::{bf16, f16};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mlx-quantize");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    files
}

/// Values of a float tensor, widened to f32, and its bit patterns in its own dtype.
fn floats(t: &TensorView<'_>) -> (Vec<f32>, Vec<u32>) {
    let d = t.data();
    match t.dtype() {
        Dtype::F32 => d
            .chunks_exact(4)
            .map(|b| {
                let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                (f32::from_bits(v), v)
            })
            .unzip(),
        Dtype::F16 => d
            .chunks_exact(2)
            .map(|b| {
                let v = u16::from_le_bytes([b[0], b[1]]);
                (f16::from_bits(v).to_f32(), v as u32)
            })
            .unzip(),
        Dtype::BF16 => d
            .chunks_exact(2)
            .map(|b| {
                let v = u16::from_le_bytes([b[0], b[1]]);
                (bf16::from_bits(v).to_f32(), v as u32)
            })
            .unzip(),
        other => panic!("unexpected dtype {other:?}"),
    }
}

/// `v` rounded to `ty` (to nearest, ties to even), widened back to f32.
fn to_dtype(ty: ScaleType, v: f32) -> f32 {
    match ty {
        ScaleType::F32 => v,
        ScaleType::F16 => f16::from_f32(v).to_f32(),
        ScaleType::Bf16 => bf16::from_f32(v).to_f32(),
    }
}

/// `v` rounded to `ty`, as an ordered integer (so that adjacent values differ by 1).
fn ordered_bits(ty: ScaleType, v: f32) -> i64 {
    let (bits, sign_bit) = match ty {
        ScaleType::F32 => (v.to_bits() as i64, 1i64 << 31),
        ScaleType::F16 => (f16::from_f32(v).to_bits() as i64, 1 << 15),
        ScaleType::Bf16 => (bf16::from_f32(v).to_bits() as i64, 1 << 15),
    };
    if bits & sign_bit != 0 {
        -(bits & (sign_bit - 1))
    } else {
        bits
    }
}

#[test]
fn mlx_fixtures_match() {
    let files = fixtures();
    assert_eq!(
        files.len(),
        27,
        "expected 27 fixtures (bits × group × dtype)"
    );
    let mut exact_dequant = 0usize;
    let mut within_one_ulp = 0usize;
    let mut total_values = 0usize;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().expect("fixture metadata");
        let bits: u8 = meta["bits"].parse().unwrap();
        let group: u16 = meta["group_size"].parse().unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let input = st.tensor("input").unwrap();
        let scale = match input.dtype() {
            Dtype::F32 => ScaleType::F32,
            Dtype::F16 => ScaleType::F16,
            Dtype::BF16 => ScaleType::Bf16,
            other => panic!("unexpected input dtype {other:?}"),
        };
        let format = QuantFormat::affine(bits, group, scale).unwrap();
        let (rows, cols) = (input.shape()[0], input.shape()[1]);
        let mlx_bytes: Vec<u8> = ["weight", "scales", "biases"]
            .iter()
            .flat_map(|name| st.tensor(name).unwrap().data().to_vec())
            .collect();
        let name = path.file_name().unwrap().to_string_lossy();

        // Quantize: bytes identical to MLX's.
        let (values, _) = floats(&input);
        let ours = quantize(format, rows, cols, &values).unwrap();
        let mismatched = ours.iter().zip(&mlx_bytes).filter(|(a, b)| a != b).count();
        assert_eq!(ours.len(), mlx_bytes.len(), "{name}");
        assert_eq!(
            mismatched,
            0,
            "{name}: {mismatched} of {} bytes differ from MLX",
            ours.len()
        );

        // Dequantize MLX's bytes. Decode q, scale and bias independently of the crate.
        let m = QuantMatrix::new(format, rows, cols, &mlx_bytes).unwrap();
        let mut deq = vec![0.0f32; rows * cols];
        m.dequantize(&mut deq);
        let (mlx_deq, _) = floats(&st.tensor("dequantized").unwrap());
        let words = st.tensor("weight").unwrap();
        let words: Vec<u32> = words
            .data()
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let (scales, _) = floats(&st.tensor("scales").unwrap());
        let (biases, _) = floats(&st.tensor("biases").unwrap());
        let per_word = 32 / bits as usize;
        let groups = cols / group as usize;
        for (i, (&ours, &theirs)) in deq.iter().zip(&mlx_deq).enumerate() {
            let (r, c) = (i / cols, i % cols);
            let word = words[(r * cols + c) / per_word];
            let q = (word >> ((c % per_word) * bits as usize)) & ((1 << bits) - 1);
            let g = r * groups + c / group as usize;
            let (s, b) = (scales[g], biases[g]);
            // Ours: q·s + b in f32, multiplied then added.
            let product = q as f32 * s;
            assert_eq!(ours.to_bits(), (product + b).to_bits(), "{name} value {i}");
            // MLX's: the same, in the dtype, with the product rounded to it first.
            let mlx_model = to_dtype(scale, to_dtype(scale, product) + b);
            assert_eq!(
                theirs.to_bits(),
                mlx_model.to_bits(),
                "{name} value {i}: MLX computed otherwise"
            );
            let ulps = (ordered_bits(scale, ours) - ordered_bits(scale, theirs)).abs();
            within_one_ulp += (ulps <= 1) as usize;
            exact_dequant += (ulps == 0) as usize;
            if scale == ScaleType::F32 {
                assert_eq!(ulps, 0, "{name} value {i}: f32 must match exactly");
            }
        }
        total_values += deq.len();
    }
    eprintln!(
        "dequantize: of {total_values} values, {exact_dequant} identical to MLX's after rounding \
         to the dtype, {within_one_ulp} within 1 ulp"
    );
}
