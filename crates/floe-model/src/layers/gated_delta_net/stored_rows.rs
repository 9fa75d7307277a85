//! Building a stored matrix out of rows of other stored matrices of the same format, byte for
//! byte (no dequantization): every plane of a stored matrix is row-major, so a row is one run of
//! bytes per plane.

use floe_format::DenseView;
use floe_quant::QuantFormat;

use crate::ModelError;

/// The bytes of the stored `[picks.len(), cols]` matrix whose row `i` is row `picks[i].1` of
/// `sources[picks[i].0]`. Every source must be a 2-D matrix of `format` with `cols` columns
/// (checked, with errors naming the tensor); row indices must be in range (the caller's layout).
pub(super) fn gather_rows(
    sources: &[&DenseView],
    format: QuantFormat,
    cols: usize,
    picks: &[(usize, usize)],
) -> Result<Vec<u8>, ModelError> {
    for view in sources {
        if view.format != format || view.shape.len() != 2 || view.shape[1] != cols {
            return Err(ModelError::tensor(
                &view.name,
                format!(
                    "expected a {format} matrix of {cols} columns, found a {} tensor of shape {:?}",
                    view.format, view.shape
                ),
            ));
        }
        let expected = format
            .matrix_bytes(view.shape[0], cols)
            .map_err(|e| ModelError::tensor(&view.name, e.to_string()))?;
        if view.bytes.len() != expected {
            return Err(ModelError::tensor(
                &view.name,
                format!(
                    "a {:?} {format} tensor takes {expected} bytes, found {}",
                    view.shape,
                    view.bytes.len()
                ),
            ));
        }
    }
    let planes = format.row_plane_bytes(cols);
    let total: usize = planes.iter().sum::<usize>() * picks.len();
    let mut out = Vec::with_capacity(total);
    let mut plane_start = 0;
    for &row_bytes in &planes {
        for &(source, row) in picks {
            let view = sources[source];
            let start = plane_start * view.shape[0] + row * row_bytes;
            out.extend_from_slice(&view.bytes[start..start + row_bytes]);
        }
        plane_start += row_bytes;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use floe_quant::QuantFormat;

    use super::*;

    fn view(
        name: &str,
        format: QuantFormat,
        rows: usize,
        cols: usize,
        bytes: Vec<u8>,
    ) -> DenseView {
        DenseView {
            name: name.into(),
            shape: vec![rows, cols],
            format,
            bytes: Bytes::from(bytes),
        }
    }

    #[test]
    fn gathers_whole_rows_of_every_plane() {
        // q4 with group 64: per row 32 packed bytes, then one bf16 scale and one bf16 bias.
        let q4 = QuantFormat::Q4;
        let planes = q4.row_plane_bytes(64);
        assert_eq!(planes, vec![32, 2, 2]);
        let matrix = |tag: u8, rows: usize| {
            let mut bytes = Vec::new();
            for (p, &len) in planes.iter().enumerate() {
                for r in 0..rows {
                    bytes.extend(std::iter::repeat_n(tag + 10 * p as u8 + r as u8, len));
                }
            }
            bytes
        };
        let a = view("a", q4, 3, 64, matrix(100, 3));
        let b = view("b", q4, 2, 64, matrix(200, 2));
        let out = gather_rows(&[&a, &b], q4, 64, &[(1, 1), (0, 2), (0, 0)]).unwrap();
        let mut want = Vec::new();
        for (p, &len) in planes.iter().enumerate() {
            for tag in [201u8, 102, 100] {
                want.extend(std::iter::repeat_n(tag + 10 * p as u8, len));
            }
        }
        assert_eq!(out, want);
    }

    #[test]
    fn refuses_mismatched_sources() {
        let a = view("a", QuantFormat::F32, 2, 4, vec![0; 32]);
        let b = view("b", QuantFormat::Bf16, 2, 4, vec![0; 16]);
        let err = gather_rows(&[&a, &b], QuantFormat::F32, 4, &[(1, 0)]).unwrap_err();
        assert!(err.to_string().contains("'b'"), "{err}");
        let short = view("short", QuantFormat::F32, 2, 4, vec![0; 31]);
        assert!(gather_rows(&[&short], QuantFormat::F32, 4, &[(0, 0)]).is_err());
    }
}
