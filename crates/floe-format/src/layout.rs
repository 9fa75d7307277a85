//! Byte-level facts shared by the reader and the writer: the data-file header, alignment, file
//! names, checksums, and the byte length of a stored tensor.

use floe_quant::QuantFormat;

use crate::manifest::ALIGNMENT;

/// The first eight bytes of every data file.
pub const DATA_MAGIC: &[u8; 8] = b"FLOEDATA";
/// The data-file header version this crate writes and reads.
pub const DATA_HEADER_VERSION: u32 = 1;
/// Bytes of the data-file header; the payload starts here.
pub const DATA_HEADER_LEN: u64 = 4096;
/// The `layer` field of a dense data file's header.
pub const NO_LAYER: u32 = u32::MAX;
/// Alignment of each part inside an expert blob, in bytes.
pub const PART_ALIGNMENT: u64 = 64;
/// The name of the dense data file the writer creates.
pub const DENSE_FILE: &str = "dense.bin";
/// The name of the manifest.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The names of an expert blob's parts, in the order the writer lays them out.
pub const EXPERT_PARTS: [&str; 3] = ["gate", "up", "down"];

/// What a data file holds (the `kind` field of its header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// Dense tensors (`kind` 0).
    Dense,
    /// The expert blobs of one layer (`kind` 1).
    Experts,
}

/// The decoded 4096-byte header of a data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataHeader {
    /// What the file holds.
    pub kind: DataKind,
    /// The checkpoint id (the manifest's `checkpoint_id`, hex-decoded).
    pub checkpoint_id: [u8; 16],
    /// The layer of an expert file; [`NO_LAYER`] for a dense file.
    pub layer: u32,
}

impl DataHeader {
    /// Encodes the header into its 4096 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; DATA_HEADER_LEN as usize];
        out[0..8].copy_from_slice(DATA_MAGIC);
        out[8..12].copy_from_slice(&DATA_HEADER_VERSION.to_le_bytes());
        let kind: u32 = match self.kind {
            DataKind::Dense => 0,
            DataKind::Experts => 1,
        };
        out[12..16].copy_from_slice(&kind.to_le_bytes());
        out[16..32].copy_from_slice(&self.checkpoint_id);
        out[32..36].copy_from_slice(&self.layer.to_le_bytes());
        out
    }

    /// Decodes a header from the first 4096 bytes of a data file; the error says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < DATA_HEADER_LEN as usize {
            return Err(format!(
                "header is {} bytes, expected {DATA_HEADER_LEN}",
                bytes.len()
            ));
        }
        if &bytes[0..8] != DATA_MAGIC {
            return Err(format!(
                "bad header magic {:?} (expected \"FLOEDATA\")",
                String::from_utf8_lossy(&bytes[0..8])
            ));
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let version = u32_at(8);
        if version != DATA_HEADER_VERSION {
            return Err(format!(
                "header version {version} (this floe reads version {DATA_HEADER_VERSION})"
            ));
        }
        let kind = match u32_at(12) {
            0 => DataKind::Dense,
            1 => DataKind::Experts,
            other => return Err(format!("unknown data-file kind {other} (expected 0 or 1)")),
        };
        if bytes[36..DATA_HEADER_LEN as usize].iter().any(|&b| b != 0) {
            return Err("header bytes 36..4096 are not zero".into());
        }
        Ok(Self {
            kind,
            checkpoint_id: bytes[16..32].try_into().expect("16 bytes"),
            layer: u32_at(32),
        })
    }
}

/// The file name of decoder layer `layer`'s expert file: `experts-LLL.bin`.
pub fn expert_file_name(layer: u32) -> String {
    format!("experts-{layer:03}.bin")
}

/// Rounds `value` up to a multiple of `to` (a power of two).
pub fn align_up(value: u64, to: u64) -> u64 {
    debug_assert!(to.is_power_of_two());
    value.div_ceil(to) * to
}

/// The distance between consecutive blobs of a layer whose blobs are `blob_length` bytes.
pub fn blob_stride(blob_length: u64) -> u64 {
    align_up(blob_length, ALIGNMENT)
}

/// The xxh3-64 of `bytes`.
pub fn checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// A checksum as stored in the manifest: 16 lowercase hex digits.
pub fn checksum_hex(value: u64) -> String {
    format!("{value:016x}")
}

/// Parses a manifest checksum (exactly 16 lowercase hex digits).
pub fn parse_checksum(text: &str) -> Option<u64> {
    if text.len() != 16
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

/// Parses a checkpoint id (exactly 32 lowercase hex digits) into its 16 bytes.
pub fn parse_checkpoint_id(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A checkpoint id as written in the manifest: 32 lowercase hex digits.
pub fn checkpoint_id_hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The number of bytes a tensor of `shape` takes in `format`.
///
/// Float formats store any shape (a scalar `[]` is one value). Quantized formats store only
/// matrices: `shape` must be `[rows, cols]` with `cols` a multiple of the format's block.
pub fn tensor_bytes(format: QuantFormat, shape: &[u64]) -> Result<u64, String> {
    let describe = || format!("{shape:?} in {format}");
    if format.is_quantized() {
        let [rows, cols] = shape else {
            return Err(format!(
                "{}: a quantized tensor must be 2-D [rows, cols]",
                describe()
            ));
        };
        let rows = usize::try_from(*rows).map_err(|_| format!("{}: too large", describe()))?;
        let cols = usize::try_from(*cols).map_err(|_| format!("{}: too large", describe()))?;
        return format
            .matrix_bytes(rows, cols)
            .map(|b| b as u64)
            .map_err(|e| format!("{}: {e}", describe()));
    }
    let values = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("{}: element count overflows", describe()))?;
    values
        .checked_mul(format.block_bytes() as u64)
        .ok_or_else(|| format!("{}: byte length overflows", describe()))
}

/// Whether `name` is a safe file name inside the checkpoint directory (no separators, not `.`
/// or `..`, not empty).
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\\')
        && !name.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let header = DataHeader {
            kind: DataKind::Experts,
            checkpoint_id: [7; 16],
            layer: 3,
        };
        let bytes = header.encode();
        assert_eq!(bytes.len(), 4096);
        assert_eq!(&bytes[0..8], b"FLOEDATA");
        assert_eq!(DataHeader::decode(&bytes).unwrap(), header);
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(DataHeader::decode(&bad).unwrap_err().contains("magic"));
        let mut bad = bytes.clone();
        bad[12] = 9;
        assert!(DataHeader::decode(&bad).unwrap_err().contains("kind"));
        let mut bad = bytes;
        bad[4000] = 1;
        assert!(DataHeader::decode(&bad).unwrap_err().contains("not zero"));
    }

    #[test]
    fn checksums_and_ids_parse_strictly() {
        assert_eq!(
            parse_checksum(&checksum_hex(0xdead_beef)),
            Some(0xdead_beef)
        );
        assert_eq!(parse_checksum("00000000DEADBEEF"), None);
        assert_eq!(parse_checksum("123"), None);
        let id = [0xab; 16];
        assert_eq!(parse_checkpoint_id(&checkpoint_id_hex(&id)), Some(id));
        assert_eq!(parse_checkpoint_id("zz"), None);
    }

    #[test]
    fn tensor_bytes_covers_floats_and_quantized() {
        assert_eq!(tensor_bytes(QuantFormat::Bf16, &[128, 1, 4]).unwrap(), 1024);
        assert_eq!(tensor_bytes(QuantFormat::F32, &[]).unwrap(), 4);
        assert_eq!(
            tensor_bytes(QuantFormat::Q8_0, &[2, 64]).unwrap(),
            2 * 2 * 34
        );
        assert!(tensor_bytes(QuantFormat::Q4, &[64]).is_err());
        assert!(tensor_bytes(QuantFormat::Q4, &[2, 48]).is_err());
    }
}
