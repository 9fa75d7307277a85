//! Opened data files and the bytes a read produces.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use memmap2::Mmap;

use crate::buffer::AlignedBuf;

/// How files are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoMode {
    /// `O_DIRECT`: the device writes straight into the aligned buffer, the page cache is
    /// bypassed (no double buffering, no eviction of other data, honest cold-read numbers).
    Direct,
    /// Ordinary reads through the page cache (re-reads of recently used blobs are memory copies).
    Buffered,
}

impl IoMode {
    /// Parses `direct` or `buffered`.
    pub fn parse(name: &str) -> Result<Self, crate::StreamError> {
        match name {
            "direct" => Ok(IoMode::Direct),
            "buffered" => Ok(IoMode::Buffered),
            other => Err(crate::StreamError::Config(format!(
                "unknown I/O mode '{other}' (expected direct or buffered)"
            ))),
        }
    }

    /// `direct` or `buffered`.
    pub fn name(&self) -> &'static str {
        match self {
            IoMode::Direct => "direct",
            IoMode::Buffered => "buffered",
        }
    }
}

/// A data file opened for reading in one [`IoMode`], plus its memory map for the mmap engine
/// (made on first use).
#[derive(Debug)]
pub struct BlobFile {
    id: usize,
    path: PathBuf,
    file: File,
    direct: bool,
    map: OnceLock<Result<Arc<Mmap>, String>>,
}

impl BlobFile {
    /// Opens `path` read-only in `mode`. `id` is a caller-chosen number (engines key per-file
    /// state by it). An `O_DIRECT` open the file system refuses gets an error saying so.
    pub fn open(id: usize, path: &Path, mode: IoMode) -> io::Result<Self> {
        let file = open_file(path, mode)?;
        Ok(Self {
            id,
            path: path.to_path_buf(),
            file,
            direct: mode == IoMode::Direct,
            map: OnceLock::new(),
        })
    }

    /// The caller-chosen id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Whether it was opened with `O_DIRECT`.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// The file's memory map (read-only), made on first call.
    pub fn mmap(&self) -> io::Result<Arc<Mmap>> {
        let map = self.map.get_or_init(|| {
            // SAFETY: checkpoint data files are immutable while open (writers write to a
            // temporary name and rename); a file truncated underneath would fault, as with any
            // mmap reader.
            unsafe { Mmap::map(&self.file) }
                .map(Arc::new)
                .map_err(|e| e.to_string())
        });
        map.clone().map_err(io::Error::other)
    }
}

#[cfg(target_os = "linux")]
fn open_file(path: &Path, mode: IoMode) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    if mode == IoMode::Direct {
        options.custom_flags(libc::O_DIRECT);
    }
    options.open(path).map_err(|err| {
        if mode == IoMode::Direct && err.raw_os_error() == Some(libc::EINVAL) {
            io::Error::new(
                err.kind(),
                "the file system refuses O_DIRECT (e.g. tmpfs); use buffered I/O for this file",
            )
        } else {
            err
        }
    })
}

#[cfg(not(target_os = "linux"))]
fn open_file(path: &Path, mode: IoMode) -> io::Result<File> {
    if mode == IoMode::Direct {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "O_DIRECT reads are implemented on Linux only; use buffered I/O",
        ));
    }
    File::open(path)
}

/// The bytes of one completed read.
pub enum BlobData {
    /// Read into an aligned buffer (`pread`, `io_uring`).
    Aligned(AlignedBuf),
    /// A range of a memory map (the mmap engine), pages already faulted in.
    Mapped {
        /// The mapping.
        map: Arc<Mmap>,
        /// Start of the range.
        offset: usize,
        /// Length of the range.
        len: usize,
    },
}

impl BlobData {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shortens it to `len` bytes (for fault injection); longer values do nothing.
    pub fn truncate(&mut self, new_len: usize) {
        match self {
            BlobData::Aligned(buf) => {
                let len = buf.len().min(new_len);
                buf.set_len(len);
            }
            BlobData::Mapped { len, .. } => *len = (*len).min(new_len),
        }
    }

    /// Flips the bits of byte `at` (for fault injection); copies a mapped range first.
    pub fn corrupt(&mut self, at: usize) {
        if let BlobData::Mapped { .. } = self {
            let mut copy = AlignedBuf::zeroed(self.len());
            copy.as_mut_capacity()[..self.len()].copy_from_slice(self.as_ref());
            *self = BlobData::Aligned(copy);
        }
        if let BlobData::Aligned(buf) = self {
            let len = buf.len();
            if len > 0 {
                buf.as_mut_capacity()[at % len] ^= 0xff;
            }
        }
    }
}

impl AsRef<[u8]> for BlobData {
    fn as_ref(&self) -> &[u8] {
        match self {
            BlobData::Aligned(buf) => buf.as_ref(),
            BlobData::Mapped { map, offset, len } => &map[*offset..*offset + *len],
        }
    }
}

impl std::fmt::Debug for BlobData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobData::Aligned(buf) => write!(f, "BlobData::Aligned({} bytes)", buf.len()),
            BlobData::Mapped { offset, len, .. } => {
                write!(f, "BlobData::Mapped({len} bytes at {offset})")
            }
        }
    }
}
