//! Where the pieces of a stored matrix go when it is written a chunk at a time.

use floe_quant::QuantFormat;

/// How a stored matrix is being filled: not yet, by row chunks, or by raw bytes in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Unstarted,
    Rows,
    Bytes,
}

/// Tracks the filling of a `[rows, cols]` matrix stored in a format whose storage is one or more
/// planes (see [`QuantFormat::row_plane_bytes`]), either by chunks of whole rows (each chunk in
/// the format's storage for those rows, planes concatenated, exactly as `floe_quant::quantize`
/// returns it) or by the stored bytes in their final order. The two may not be mixed.
pub(crate) struct MatrixFill {
    rows: usize,
    plane_row_bytes: Vec<u64>,
    plane_starts: Vec<u64>,
    total: u64,
    rows_done: usize,
    bytes_done: u64,
    mode: Mode,
}

/// One piece of a chunk: `chunk[range]` goes to `offset` from the start of the matrix.
pub(crate) struct Placement {
    /// Offset from the start of the stored matrix.
    pub offset: u64,
    /// The bytes of the chunk that go there.
    pub range: std::ops::Range<usize>,
}

impl MatrixFill {
    /// A fill for `[rows, cols]` in `format`; the caller has checked that the shape is storable.
    pub(crate) fn new(format: QuantFormat, rows: usize, cols: usize) -> Self {
        let plane_row_bytes: Vec<u64> = format
            .row_plane_bytes(cols)
            .into_iter()
            .map(|b| b as u64)
            .collect();
        let mut plane_starts = Vec::with_capacity(plane_row_bytes.len());
        let mut at = 0u64;
        for &b in &plane_row_bytes {
            plane_starts.push(at);
            at += b * rows as u64;
        }
        Self {
            rows,
            plane_row_bytes,
            plane_starts,
            total: at,
            rows_done: 0,
            bytes_done: 0,
            mode: Mode::Unstarted,
        }
    }

    /// Total stored bytes.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Whether every byte has been supplied.
    pub(crate) fn is_complete(&self) -> bool {
        match self.mode {
            Mode::Unstarted => self.total == 0,
            Mode::Rows => self.rows_done == self.rows,
            Mode::Bytes => self.bytes_done == self.total,
        }
    }

    /// How much has been supplied, for error messages.
    pub(crate) fn progress(&self) -> String {
        match self.mode {
            Mode::Rows => format!("{} of {} rows", self.rows_done, self.rows),
            _ => format!("{} of {} bytes", self.bytes_done, self.total),
        }
    }

    /// The placements of the next `rows` rows, given as `chunk_len` bytes of storage.
    pub(crate) fn rows(&mut self, rows: usize, chunk_len: usize) -> Result<Vec<Placement>, String> {
        if self.mode == Mode::Bytes {
            return Err("rows cannot be written after raw bytes".into());
        }
        if rows == 0 || self.rows_done + rows > self.rows {
            return Err(format!(
                "{rows} more rows do not fit: {} of {} rows are written",
                self.rows_done, self.rows
            ));
        }
        let expected: u64 = self.plane_row_bytes.iter().sum::<u64>() * rows as u64;
        if chunk_len as u64 != expected {
            return Err(format!(
                "a chunk of {rows} rows must be {expected} bytes, got {chunk_len}"
            ));
        }
        self.mode = Mode::Rows;
        let mut out = Vec::with_capacity(self.plane_row_bytes.len());
        let mut at = 0usize;
        for (start, &per_row) in self.plane_starts.iter().zip(&self.plane_row_bytes) {
            let len = (per_row * rows as u64) as usize;
            out.push(Placement {
                offset: start + per_row * self.rows_done as u64,
                range: at..at + len,
            });
            at += len;
        }
        self.rows_done += rows;
        Ok(out)
    }

    /// The offset of the next `len` raw bytes.
    pub(crate) fn bytes(&mut self, len: usize) -> Result<u64, String> {
        if self.mode == Mode::Rows {
            return Err("raw bytes cannot be written after rows".into());
        }
        if self.bytes_done + len as u64 > self.total {
            return Err(format!(
                "{len} more bytes do not fit: {} of {} bytes are written",
                self.bytes_done, self.total
            ));
        }
        self.mode = Mode::Bytes;
        let at = self.bytes_done;
        self.bytes_done += len as u64;
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_row_chunks_land_in_their_planes() {
        // q4, g64, bf16: per row of 128 values: 64 bytes of values, 4 of scales, 4 of biases.
        let mut fill = MatrixFill::new(QuantFormat::Q4, 4, 128);
        assert_eq!(fill.total(), 4 * 72);
        let first = fill.rows(1, 72).unwrap();
        let offsets: Vec<u64> = first.iter().map(|p| p.offset).collect();
        assert_eq!(offsets, vec![0, 256, 256 + 16]);
        let rest = fill.rows(3, 3 * 72).unwrap();
        let offsets: Vec<u64> = rest.iter().map(|p| p.offset).collect();
        assert_eq!(offsets, vec![64, 256 + 4, 256 + 16 + 4]);
        assert_eq!(rest[1].range, 192..204);
        assert!(fill.is_complete());
        assert!(fill.rows(1, 72).is_err());
    }

    #[test]
    fn modes_do_not_mix_and_lengths_are_checked() {
        let mut fill = MatrixFill::new(QuantFormat::F32, 2, 2);
        assert!(fill.rows(1, 4).is_err());
        let mut fill = MatrixFill::new(QuantFormat::F32, 2, 2);
        assert_eq!(fill.bytes(8).unwrap(), 0);
        assert!(fill.rows(1, 8).is_err());
        assert_eq!(fill.bytes(8).unwrap(), 8);
        assert!(fill.bytes(1).is_err());
        assert!(fill.is_complete());
    }
}
