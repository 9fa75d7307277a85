//! Bad shapes and lengths give `QuantError`; chunked quantization matches whole-matrix bytes.

mod common;

use common::{all_formats, Rng};
use floe_quant::{quantize, quantize_into, QuantError, QuantFormat, QuantMatrix};

#[test]
fn bad_shapes_and_lengths_are_errors() {
    for format in all_formats() {
        let block = format.block_values();
        let cols = block * 2;
        let values = vec![0.5f32; 2 * cols];
        // Wrong number of values.
        assert!(
            matches!(
                quantize(format, 3, cols, &values),
                Err(QuantError::Shape(_))
            ),
            "{format}"
        );
        assert!(
            matches!(
                quantize(format, 1, cols, &values),
                Err(QuantError::Shape(_))
            ),
            "{format}"
        );
        // Rows of zero length.
        assert!(
            matches!(quantize(format, 2, 0, &[]), Err(QuantError::Shape(_))),
            "{format}"
        );
        if block > 1 {
            // A row that is not a whole number of blocks.
            let odd = vec![0.5f32; 2 * (block + 1)];
            assert!(
                matches!(
                    quantize(format, 2, block + 1, &odd),
                    Err(QuantError::Shape(_))
                ),
                "{format}"
            );
        }
        let bytes = quantize(format, 2, cols, &values).unwrap();
        assert!(QuantMatrix::new(format, 2, cols, &bytes).is_ok());
        assert!(matches!(
            QuantMatrix::new(format, 2, cols, &bytes[1..]),
            Err(QuantError::Shape(_))
        ));
        assert!(matches!(
            QuantMatrix::new(format, 3, cols, &bytes),
            Err(QuantError::Shape(_))
        ));
        assert!(matches!(
            QuantMatrix::new(format, 2, cols + 1, &bytes),
            Err(QuantError::Shape(_))
        ));
        // Overflowing shapes.
        assert!(QuantMatrix::new(format, usize::MAX, cols, &bytes).is_err());
    }
}

#[test]
fn zero_rows_are_an_empty_matrix() {
    for format in all_formats() {
        let cols = format.block_values() * 2;
        assert_eq!(quantize(format, 0, cols, &[]).unwrap(), Vec::<u8>::new());
        let m = QuantMatrix::new(format, 0, cols, &[]).unwrap();
        m.dequantize(&mut []);
    }
}

#[test]
fn unrepresentable_values_are_errors() {
    for format in all_formats() {
        let cols = format.block_values().max(32);
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut values = vec![0.25f32; 2 * cols];
            values[cols + 3] = bad;
            let result = quantize(format, 2, cols, &values);
            if format.is_quantized() {
                let err = result.unwrap_err();
                assert!(
                    matches!(err, QuantError::Unrepresentable(_)),
                    "{format}: {err}"
                );
                assert!(
                    err.to_string().contains("row 1, column 3"),
                    "{format}: {err}"
                );
            } else {
                // Float formats store NaN and infinities as they are.
                let bytes = result.unwrap();
                let mut out = vec![0.0; 2 * cols];
                QuantMatrix::new(format, 2, cols, &bytes)
                    .unwrap()
                    .dequantize(&mut out);
                let back = out[cols + 3];
                assert!(
                    back.is_nan() == bad.is_nan() && (bad.is_nan() || back == bad),
                    "{format}: {back}"
                );
            }
        }
    }
    // Finite values beyond an f16 element's range.
    let big = vec![1e7f32; 32]; // f16 max is 65504; q8_0 scales up to 65504·127 ≈ 8.3e6
    for format in ["f16", "q8_0", "affine4-g32-f16"] {
        let format: QuantFormat = format.parse().unwrap();
        let err = quantize(format, 1, 32, &big).unwrap_err();
        assert!(
            matches!(err, QuantError::Unrepresentable(_)),
            "{format}: {err}"
        );
    }
    // ... but fine for bf16 and f32 scales.
    for format in ["bf16", "affine4-g32-bf16", "affine4-g32-f32"] {
        let format: QuantFormat = format.parse().unwrap();
        quantize(format, 1, 32, &big).unwrap();
    }
}

#[test]
fn a_failed_quantize_into_leaves_the_buffer_as_it_was() {
    let mut out = vec![1u8, 2, 3];
    let mut values = vec![0.5f32; 64];
    values[40] = f32::NAN;
    assert!(quantize_into(QuantFormat::Q4, 1, 64, &values, &mut out).is_err());
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn quantize_into_appends() {
    let values = Rng::new(3).weights(2, 64);
    let mut out = vec![9u8; 5];
    quantize_into(QuantFormat::Q4, 2, 64, &values, &mut out).unwrap();
    assert_eq!(&out[..5], &[9; 5]);
    assert_eq!(
        &out[5..],
        &quantize(QuantFormat::Q4, 2, 64, &values).unwrap()[..]
    );
}

/// Quantizing rows `r0..r1` alone yields exactly those rows' bytes in every plane of the whole
/// matrix, at `r0 · row_plane_bytes[p]` within plane `p`.
#[test]
fn chunked_quantization_matches_whole_matrix() {
    let mut rng = Rng::new(5);
    for format in all_formats() {
        let (rows, cols) = (7, format.block_values().max(32) * 3);
        let values = rng.weights(rows, cols);
        let whole = quantize(format, rows, cols, &values).unwrap();
        let planes = format.row_plane_bytes(cols);
        assert_eq!(planes.iter().sum::<usize>() * rows, whole.len(), "{format}");
        let mut assembled = vec![0u8; whole.len()];
        for (r0, r1) in [(0, 3), (3, 4), (4, 7)] {
            let chunk = quantize(format, r1 - r0, cols, &values[r0 * cols..r1 * cols]).unwrap();
            let (mut plane_start, mut chunk_start) = (0, 0);
            for &row_bytes in &planes {
                let len = (r1 - r0) * row_bytes;
                let at = plane_start + r0 * row_bytes;
                assembled[at..at + len].copy_from_slice(&chunk[chunk_start..chunk_start + len]);
                plane_start += rows * row_bytes;
                chunk_start += len;
            }
            assert_eq!(chunk_start, chunk.len());
        }
        assert_eq!(assembled, whole, "{format}");
    }
}

#[test]
fn affine_parameters_built_by_hand_are_checked() {
    use floe_quant::{AffineSpec, ScaleType};
    for (bits, group_size) in [(3, 64), (4, 48), (0, 64), (16, 64), (4, 0)] {
        let format = QuantFormat::Affine(AffineSpec {
            bits,
            group_size,
            scale: ScaleType::Bf16,
        });
        let values = vec![0.0f32; 192];
        assert!(
            matches!(
                quantize(format, 1, 192, &values),
                Err(QuantError::Unsupported(_))
            ),
            "{bits} {group_size}"
        );
        assert!(matches!(
            QuantMatrix::new(format, 1, 192, &[0u8; 1024]),
            Err(QuantError::Unsupported(_))
        ));
        assert!(format.matrix_bytes(1, 192).is_err());
    }
}
