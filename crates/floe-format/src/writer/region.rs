//! Writing one checksummed byte range of a data file (a dense tensor or an expert blob).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use xxhash_rust::xxh3::Xxh3;

use crate::FormatError;

/// Bytes hashed per read when a range written out of order is read back for its checksum.
const READ_BACK_CHUNK: usize = 8 << 20;

/// A range `[base, base + length)` of a data file being filled by positioned writes. Writes that
/// arrive in order are hashed as they go; if any arrives out of order, the range is read back
/// once at the end. Bytes never written read as zero (the files are created fresh).
pub(crate) struct Region {
    base: u64,
    length: u64,
    hasher: Xxh3,
    hashed: u64,
    in_order: bool,
}

impl Region {
    /// A region of `length` bytes at file offset `base`.
    pub(crate) fn new(base: u64, length: u64) -> Self {
        Self {
            base,
            length,
            hasher: Xxh3::new(),
            hashed: 0,
            in_order: true,
        }
    }

    /// Writes `bytes` at `offset` from the start of the region.
    pub(crate) fn write(
        &mut self,
        file: &File,
        path: &Path,
        offset: u64,
        bytes: &[u8],
    ) -> Result<(), FormatError> {
        let end = offset + bytes.len() as u64;
        assert!(
            end <= self.length,
            "region write {offset}..{end} past its length {}",
            self.length
        );
        file.write_all_at(bytes, self.base + offset)
            .map_err(|e| FormatError::io(path, e))?;
        if self.in_order && offset == self.hashed {
            self.hasher.update(bytes);
            self.hashed = end;
        } else {
            self.in_order = false;
        }
        Ok(())
    }

    /// Declares `[offset, offset + len)` as zero padding that is never written (keeps in-order
    /// hashing going across gaps).
    pub(crate) fn pad(&mut self, offset: u64, len: u64) {
        if self.in_order && offset == self.hashed {
            let zeros = [0u8; 4096];
            let mut left = len;
            while left > 0 {
                let n = left.min(zeros.len() as u64);
                self.hasher.update(&zeros[..n as usize]);
                left -= n;
            }
            self.hashed += len;
        }
    }

    /// The xxh3-64 of the region's final bytes.
    pub(crate) fn finish(self, file: &File, path: &Path) -> Result<u64, FormatError> {
        if self.in_order && self.hashed == self.length {
            return Ok(self.hasher.digest());
        }
        let mut hasher = Xxh3::new();
        let mut buf = vec![0u8; READ_BACK_CHUNK.min(self.length as usize)];
        let mut done = 0u64;
        while done < self.length {
            let n = (self.length - done).min(buf.len() as u64) as usize;
            read_exact_or_zero(file, &mut buf[..n], self.base + done)
                .map_err(|e| FormatError::io(path, e))?;
            hasher.update(&buf[..n]);
            done += n as u64;
        }
        Ok(hasher.digest())
    }
}

/// Reads `buf.len()` bytes at `offset`; bytes past the end of the file (a hole not yet extended)
/// read as zero.
fn read_exact_or_zero(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => {
                buf[done..].fill(0);
                return Ok(());
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
