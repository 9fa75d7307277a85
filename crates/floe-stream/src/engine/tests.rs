//! Tests of every engine against a small temporary file.

use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// A sink forwarding completions to a channel.
pub(crate) struct ChannelSink(pub(crate) Mutex<Sender<(u64, io::Result<BlobData>)>>);

impl CompletionSink for ChannelSink {
    fn complete(&self, tag: u64, result: io::Result<BlobData>) {
        let _ = self.0.lock().unwrap().send((tag, result));
    }
}

/// The byte at `offset` of the test file.
fn pattern(offset: usize) -> u8 {
    (offset.wrapping_mul(31) ^ (offset >> 12)) as u8
}

/// A temporary file of `len` patterned bytes.
fn patterned_file(len: usize) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new_in(std::env::temp_dir()).unwrap();
    let bytes: Vec<u8> = (0..len).map(pattern).collect();
    file.write_all(&bytes).unwrap();
    file.flush().unwrap();
    file
}

fn engines() -> Vec<Arc<dyn ReadEngine>> {
    let pool = BufferPool::new(1 << 20);
    let mut out: Vec<Arc<dyn ReadEngine>> = vec![
        EngineKind::Pread { threads: 3 }
            .build(Arc::clone(&pool))
            .unwrap(),
        EngineKind::Mmap { threads: 2 }
            .build(Arc::clone(&pool))
            .unwrap(),
    ];
    #[cfg(target_os = "linux")]
    out.push(EngineKind::IoUring { queue_depth: 4 }.build(pool).unwrap());
    out
}

/// Reads `(offset, len)` ranges through `engine`, returning each result by request index.
fn read_all(
    engine: &Arc<dyn ReadEngine>,
    file: &Arc<BlobFile>,
    ranges: &[(u64, usize)],
) -> HashMap<u64, io::Result<BlobData>> {
    let (tx, rx) = channel();
    let sink: Arc<dyn CompletionSink> = Arc::new(ChannelSink(Mutex::new(tx)));
    let batch = ranges
        .iter()
        .enumerate()
        .map(|(i, &(offset, len))| ReadRequest {
            tag: i as u64,
            file: Arc::clone(file),
            offset,
            len,
        })
        .collect();
    engine.submit(batch, &sink);
    (0..ranges.len())
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(20))
                .expect("a completion")
        })
        .collect()
}

#[test]
fn every_engine_reads_exact_bytes_in_both_modes() {
    let len = 10 * 4096 + 1000; // the last block is partial
    let file = patterned_file(len);
    let ranges = [
        (0u64, 4096usize),
        (8192, 3 * 4096),
        (4096, 100),
        (9 * 4096, 4096 + 1000),
        (12288, 5000),
    ];
    for mode in [IoMode::Buffered, IoMode::Direct] {
        let blob_file = Arc::new(BlobFile::open(0, file.path(), mode).unwrap());
        for engine in engines() {
            let results = read_all(&engine, &blob_file, &ranges);
            for (i, &(offset, len)) in ranges.iter().enumerate() {
                let data = results[&(i as u64)]
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{} {mode:?}: {e}", engine.name()));
                assert_eq!(data.len(), len, "{} {mode:?} read {i}", engine.name());
                let expected: Vec<u8> = (offset as usize..offset as usize + len)
                    .map(pattern)
                    .collect();
                assert!(
                    data.as_ref() == expected.as_slice(),
                    "{} {mode:?} read {i} has wrong bytes",
                    engine.name()
                );
                if let BlobData::Aligned(buf) = data {
                    assert_eq!(
                        buf.as_ref().as_ptr() as usize % crate::buffer::IO_ALIGNMENT,
                        0
                    );
                }
            }
        }
    }
}

#[test]
fn reads_past_the_end_fail_as_short_reads() {
    let file = patterned_file(3 * 4096);
    for mode in [IoMode::Buffered, IoMode::Direct] {
        let blob_file = Arc::new(BlobFile::open(0, file.path(), mode).unwrap());
        for engine in engines() {
            let results = read_all(&engine, &blob_file, &[(2 * 4096, 8192), (0, 4096)]);
            let err = results[&0]
                .as_ref()
                .expect_err("reading past the end must fail");
            assert_eq!(
                err.kind(),
                io::ErrorKind::UnexpectedEof,
                "{}: {err}",
                engine.name()
            );
            assert!(
                err.to_string().contains("4096 of 8192"),
                "{}: {err}",
                engine.name()
            );
            assert!(
                results[&1].is_ok(),
                "{}: the other read still completes",
                engine.name()
            );
        }
    }
}

#[test]
fn many_reads_beyond_the_depth_all_complete() {
    let file = patterned_file(64 * 4096);
    let ranges: Vec<(u64, usize)> = (0..200)
        .map(|i| (((i * 7) % 64) as u64 * 4096, 4096))
        .collect();
    let blob_file = Arc::new(BlobFile::open(0, file.path(), IoMode::Buffered).unwrap());
    for engine in engines() {
        let results = read_all(&engine, &blob_file, &ranges);
        assert_eq!(results.len(), ranges.len());
        for (i, &(offset, _)) in ranges.iter().enumerate() {
            assert_eq!(
                results[&(i as u64)].as_ref().unwrap().as_ref()[0],
                pattern(offset as usize)
            );
        }
    }
}

#[test]
fn faulty_engine_injects_errors_short_reads_and_corruption() {
    let file = patterned_file(8 * 4096);
    let blob_file = Arc::new(BlobFile::open(0, file.path(), IoMode::Buffered).unwrap());
    let inner = EngineKind::Pread { threads: 2 }
        .build(BufferPool::new(0))
        .unwrap();
    let plan = vec![
        Fault::nth(0, FaultKind::Error(io::ErrorKind::Other)),
        Fault::at(file.path(), 4096, FaultKind::ShortRead { keep: 10 }),
        Fault::at(file.path(), 8192, FaultKind::Corrupt),
        Fault::at(
            file.path(),
            12288,
            FaultKind::Delay(Duration::from_millis(20)),
        ),
    ];
    let engine: Arc<dyn ReadEngine> = Arc::new(FaultyEngine::new(inner, plan));
    let ranges = [
        (0, 4096),
        (4096, 4096),
        (8192, 4096),
        (12288, 4096),
        (16384, 4096),
    ];
    let results = read_all(&engine, &blob_file, &ranges);
    assert!(results[&0]
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("injected fault on read #0"));
    assert_eq!(results[&1].as_ref().unwrap().len(), 10);
    let corrupted = results[&2].as_ref().unwrap();
    let clean: Vec<u8> = (8192..12288).map(pattern).collect();
    assert_eq!(corrupted.len(), 4096);
    assert_ne!(corrupted.as_ref(), clean.as_slice());
    assert_eq!(results[&3].as_ref().unwrap().as_ref()[0], pattern(12288));
    assert!(results[&4].is_ok());
}

#[test]
fn engine_kinds_parse_and_refuse_zero() {
    assert_eq!(
        EngineKind::parse("pread", 4).unwrap(),
        EngineKind::Pread { threads: 4 }
    );
    assert_eq!(
        EngineKind::parse("io_uring", 8).unwrap(),
        EngineKind::IoUring { queue_depth: 8 }
    );
    assert_eq!(
        EngineKind::parse("mmap", 1).unwrap(),
        EngineKind::Mmap { threads: 1 }
    );
    assert!(EngineKind::parse("aio", 4)
        .unwrap_err()
        .to_string()
        .contains("unknown engine 'aio'"));
    assert!(EngineKind::parse("pread", 0).is_err());
}

#[test]
fn a_refused_io_uring_falls_back_to_pread() {
    let refused: io::Result<PreadEngine> =
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "refused"));
    let engine = with_fallback(refused, 3, BufferPool::new(0)).unwrap();
    assert_eq!(engine.name(), "pread×3");
    assert_eq!(engine.depth(), 3);
}
