//! Tests of the streaming source over small temporary blob files.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use floe_format::{ExpertSource, FormatError};

use super::*;
use crate::engine::{EngineKind, Fault, FaultKind, FaultyEngine, IoMode, ReadRequest};
use crate::testing::{blob_bytes, blob_offset, TestCatalog};

const BLOB: u64 = 10_000; // not a multiple of 4096: exercises padding and O_DIRECT rounding

fn catalog() -> Arc<TestCatalog> {
    Arc::new(TestCatalog::new(2, 8, BLOB, 2))
}

fn config(engine: EngineKind, io_mode: IoMode) -> StreamConfig {
    StreamConfig {
        engine,
        io_mode,
        ..StreamConfig::default()
    }
}

/// Fetches and returns the blobs by index, checking each index arrives exactly once.
fn fetch_all(
    source: &dyn ExpertSource,
    layer: u32,
    experts: &[u32],
) -> Result<Vec<Bytes>, FormatError> {
    let mut got: Vec<Option<Bytes>> = vec![None; experts.len()];
    source.fetch(layer, experts, &mut |i, bytes| {
        assert!(got[i].is_none(), "index {i} delivered twice");
        got[i] = Some(bytes);
        Ok(())
    })?;
    Ok(got
        .into_iter()
        .map(|b| b.expect("every index delivered"))
        .collect())
}

fn check(layer: u32, experts: &[u32], blobs: &[Bytes]) {
    for (&expert, bytes) in experts.iter().zip(blobs) {
        assert!(
            bytes[..] == blob_bytes(layer, expert, BLOB)[..],
            "wrong bytes for expert {expert} of layer {layer}"
        );
    }
}

#[test]
fn every_engine_and_mode_delivers_exact_blobs() {
    let catalog = catalog();
    let engines = [
        EngineKind::Pread { threads: 3 },
        EngineKind::IoUring { queue_depth: 4 },
        EngineKind::Mmap { threads: 2 },
    ];
    for engine in engines {
        for mode in [IoMode::Direct, IoMode::Buffered] {
            let source =
                StreamingExpertSource::with_catalog(catalog.clone(), config(engine, mode)).unwrap();
            let experts = [7, 0, 3, 3, 5];
            let blobs = fetch_all(&source, 2, &experts).unwrap();
            check(2, &experts, &blobs);
            let stats = source.stats();
            assert_eq!(stats.requests, 5, "{engine:?}");
            assert_eq!(
                stats.reads_issued, 4,
                "{engine:?}: the duplicate expert is read once"
            );
            assert_eq!(stats.bytes_read, 4 * BLOB);
            assert_eq!(stats.per_layer[1].misses, 5);
            if !matches!(engine, EngineKind::Mmap { .. }) {
                assert_eq!(
                    blobs[0].as_ptr() as usize % 4096,
                    0,
                    "zero-copy from the aligned buffer"
                );
            }
        }
    }
}

#[test]
fn the_cache_serves_repeats_and_none_rereads() {
    let catalog = catalog();
    let lru = StreamConfig {
        cache_budget: 3 * BLOB,
        policy: PolicyKind::Lru,
        ..config(EngineKind::Pread { threads: 2 }, IoMode::Buffered)
    };
    let source = StreamingExpertSource::with_catalog(catalog.clone(), lru).unwrap();
    fetch_all(&source, 1, &[0, 1]).unwrap();
    let blobs = fetch_all(&source, 1, &[1, 0]).unwrap();
    check(1, &[1, 0], &blobs);
    let stats = source.stats();
    assert_eq!((stats.hits, stats.misses, stats.reads_issued), (2, 2, 2));
    assert_eq!(stats.per_layer[0].hit_rate(), 0.5);
    assert_eq!(stats.cached_blobs, 2);
    drop(blobs);
    fetch_all(&source, 1, &[2, 3]).unwrap(); // 4 blobs into a budget of 3: evicts one
    let stats = source.stats();
    assert_eq!(stats.evictions, 1);
    assert_eq!(stats.cached_bytes, 3 * BLOB);
    source.reset_stats();
    assert_eq!(source.stats().requests, 0);
    assert_eq!(source.stats().cached_blobs, 3, "reset keeps the cache");

    let none = StreamingExpertSource::with_catalog(
        catalog,
        config(EngineKind::Pread { threads: 2 }, IoMode::Buffered),
    )
    .unwrap();
    fetch_all(&none, 1, &[0]).unwrap();
    fetch_all(&none, 1, &[0]).unwrap();
    assert_eq!((none.stats().hits, none.stats().reads_issued), (0, 2));
}

#[test]
fn a_budget_below_one_layers_top_k_is_refused_with_the_minimum() {
    let config = StreamConfig {
        cache_budget: BLOB,
        policy: PolicyKind::Lru,
        ..StreamConfig::default()
    };
    let err = StreamingExpertSource::with_catalog(catalog(), config)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("smaller than one layer's 2 experts"), "{err}");
    assert!(err.contains(&format!("({} bytes)", 2 * BLOB)), "{err}");
}

#[test]
fn blobs_in_use_are_not_evicted() {
    let config = StreamConfig {
        cache_budget: 2 * BLOB,
        policy: PolicyKind::LfuAging { half_life: None },
        ..config(EngineKind::Pread { threads: 2 }, IoMode::Buffered)
    };
    let source = StreamingExpertSource::with_catalog(catalog(), config).unwrap();
    let held = fetch_all(&source, 1, &[0, 1]).unwrap();
    let other = fetch_all(&source, 1, &[2, 3]).unwrap();
    check(1, &[2, 3], &other);
    let stats = source.stats();
    assert_eq!(stats.evictions, 0, "both cached blobs are in use");
    assert_eq!(stats.cached_blobs, 2);
    drop(other);
    let again = fetch_all(&source, 1, &[0, 1]).unwrap();
    assert_eq!(source.stats().hits, 2, "the pinned blobs stayed");
    check(1, &[0, 1], &again);
    drop((held, again));
    fetch_all(&source, 1, &[4, 5]).unwrap();
    assert_eq!(source.stats().evictions, 2, "unpinned blobs make room");
}

#[test]
fn bad_layers_and_experts_are_named() {
    let source = StreamingExpertSource::with_catalog(catalog(), StreamConfig::default()).unwrap();
    let err = fetch_all(&source, 0, &[1]).unwrap_err().to_string();
    assert!(err.contains("layer 0 has no routed experts"), "{err}");
    let err = fetch_all(&source, 1, &[1, 8]).unwrap_err().to_string();
    assert!(
        err.contains("expert 8 of layer 1 does not exist (the layer has 8 experts)"),
        "{err}"
    );
    let mut called = false;
    source
        .fetch(1, &[], &mut |_, _| {
            called = true;
            Ok(())
        })
        .unwrap();
    assert!(!called);
}

#[test]
fn hinted_blobs_are_prefetched_and_counted() {
    let source = StreamingExpertSource::with_catalog(
        catalog(),
        config(EngineKind::Pread { threads: 4 }, IoMode::Buffered),
    )
    .unwrap();
    source.hint(2, &[1, 2, 3]);
    let blobs = fetch_all(&source, 2, &[1, 2, 6]).unwrap();
    check(2, &[1, 2, 6], &blobs);
    let stats = source.stats();
    assert_eq!(
        stats.prefetch_issued + stats.prefetch_dropped,
        3,
        "{stats:?}"
    );
    assert_eq!(stats.prefetch_hits, stats.prefetch_used);
    assert!(stats.prefetch_used >= 1, "{stats:?}");
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.hits + stats.prefetch_hits + stats.misses, 3);
    // Expert 3 was hinted but not fetched: it counts against accuracy.
    assert!(stats.prefetch_accuracy() < 1.0 || stats.prefetch_issued == stats.prefetch_used);
    // Hints for nonexistent blobs are ignored.
    source.hint(0, &[1]);
    source.hint(1, &[99]);
}

#[test]
fn newer_hints_supersede_queued_ones() {
    // A slow engine with one slot and a prefetch cap of one keeps later hints queued.
    let catalog = catalog();
    let inner = EngineKind::Pread { threads: 1 }
        .build(BufferPool::new(0))
        .unwrap();
    let slow = Arc::new(FaultyEngine::new(
        inner,
        vec![Fault::every(FaultKind::Delay(Duration::from_millis(30)))],
    ));
    let config = StreamConfig {
        max_prefetch_in_flight: Some(1),
        ..StreamConfig::default()
    };
    let source = StreamingExpertSource::with_engine(catalog, config, slow).unwrap();
    source.hint(1, &[0, 1, 2, 3]);
    source.hint(1, &[4]); // replaces the three still queued
    let stats = source.stats();
    assert_eq!(stats.prefetch_issued, 1);
    assert_eq!(stats.prefetch_dropped, 3);
    let blobs = fetch_all(&source, 1, &[0, 4]).unwrap();
    check(1, &[0, 4], &blobs);
    let stats = source.stats();
    assert_eq!(
        stats.prefetch_used, 1,
        "expert 0 was in flight as a prefetch: {stats:?}"
    );
}

/// Records the order in which reads reach the engine.
struct Recorder {
    inner: Arc<dyn ReadEngine>,
    order: Mutex<Vec<BlobKey>>,
}

impl ReadEngine for Recorder {
    fn name(&self) -> String {
        "recorder".into()
    }
    fn depth(&self) -> usize {
        self.inner.depth()
    }
    fn submit(&self, batch: Vec<ReadRequest>, sink: &Arc<dyn CompletionSink>) {
        self.order
            .lock()
            .unwrap()
            .extend(batch.iter().map(|r| state::key_of(r.tag)));
        self.inner.submit(batch, sink);
    }
}

#[test]
fn prefetch_never_goes_ahead_of_demand_reads() {
    // One worker: completions (and so dispatches) happen one at a time, in a definite order.
    let inner = EngineKind::Pread { threads: 1 }
        .build(BufferPool::new(0))
        .unwrap();
    let slow: Arc<dyn ReadEngine> = Arc::new(FaultyEngine::new(
        inner,
        vec![Fault::every(FaultKind::Delay(Duration::from_millis(5)))],
    ));
    let recorder = Arc::new(Recorder {
        inner: slow,
        order: Mutex::new(Vec::new()),
    });
    let config = StreamConfig {
        max_prefetch_in_flight: Some(1),
        ..StreamConfig::default()
    };
    let source = StreamingExpertSource::with_engine(catalog(), config, recorder.clone()).unwrap();
    source.hint(2, &[0, 1, 2, 3, 4, 5]);
    fetch_all(&source, 1, &[0, 1, 2, 3, 4, 5]).unwrap();
    let order = recorder.order.lock().unwrap().clone();
    let last_demand = order.iter().rposition(|k| k.layer == 1).unwrap();
    let prefetches_before = order[..last_demand].iter().filter(|k| k.layer == 2).count();
    assert_eq!(
        prefetches_before, 1,
        "only the prefetch issued before the fetch came ahead: {order:?}"
    );
}

#[test]
fn read_errors_name_the_layer_and_expert_and_others_complete() {
    let catalog = catalog();
    let bad = catalog.path(1);
    let inner = EngineKind::Pread { threads: 2 }
        .build(BufferPool::new(0))
        .unwrap();
    let plan = vec![
        Fault::at(
            &bad,
            blob_offset(3, BLOB),
            FaultKind::Error(io::ErrorKind::Other),
        )
        .times(1),
        Fault::at(
            &bad,
            blob_offset(4, BLOB),
            FaultKind::ShortRead { keep: 100 },
        )
        .times(1),
        Fault::at(&bad, blob_offset(5, BLOB), FaultKind::Corrupt).times(1),
    ];
    let engine = Arc::new(FaultyEngine::new(inner, plan));
    let source =
        StreamingExpertSource::with_engine(catalog, StreamConfig::default(), engine).unwrap();
    let err = fetch_all(&source, 1, &[2, 3]).unwrap_err().to_string();
    assert!(
        err.contains("reading expert 3 of layer 1") && err.contains("injected fault"),
        "{err}"
    );
    let err = fetch_all(&source, 1, &[4]).unwrap_err().to_string();
    assert!(
        err.contains("reading expert 4 of layer 1") && err.contains("got 100 of 10000 bytes"),
        "{err}"
    );
    let err = fetch_all(&source, 1, &[5]).unwrap_err();
    assert!(
        matches!(
            err,
            FormatError::BlobChecksum {
                layer: 1,
                expert: 5,
                ..
            }
        ),
        "{err}"
    );
    let stats = source.stats();
    assert_eq!((stats.read_errors, stats.checksum_failures), (2, 1));
    // The faults were one-off: the same blobs now read fine, and so does everything else.
    let blobs = fetch_all(&source, 1, &[3, 4, 5, 2]).unwrap();
    check(1, &[3, 4, 5, 2], &blobs);
}

#[test]
fn a_truncated_file_fails_the_missing_blobs_without_hanging() {
    for engine in [
        EngineKind::Pread { threads: 2 },
        EngineKind::IoUring { queue_depth: 2 },
        EngineKind::Mmap { threads: 1 },
    ] {
        for mode in [IoMode::Direct, IoMode::Buffered] {
            let catalog = catalog();
            let source =
                StreamingExpertSource::with_catalog(catalog.clone(), config(engine, mode)).unwrap();
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(catalog.path(2))
                .unwrap();
            file.set_len(blob_offset(6, BLOB) + 10).unwrap();
            let err = fetch_all(&source, 2, &[0, 6, 1]).unwrap_err().to_string();
            assert!(
                err.contains("expert 6 of layer 2"),
                "{engine:?} {mode:?}: {err}"
            );
            assert!(err.contains("short read"), "{engine:?} {mode:?}: {err}");
            let blobs = fetch_all(&source, 2, &[0, 1, 5]).unwrap();
            check(2, &[0, 1, 5], &blobs);
            assert!(fetch_all(&source, 2, &[7]).is_err());
        }
    }
}

#[test]
fn concurrent_fetches_of_the_same_blobs_share_reads() {
    let config = StreamConfig {
        cache_budget: 16 * BLOB,
        policy: PolicyKind::Lru,
        ..StreamConfig::default()
    };
    let source = Arc::new(StreamingExpertSource::with_catalog(catalog(), config).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let source = Arc::clone(&source);
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let blobs = fetch_all(&*source, 2, &[1, 2, 3, 4]).unwrap();
                    check(2, &[1, 2, 3, 4], &blobs);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let stats = source.stats();
    assert_eq!(stats.requests, 80);
    assert_eq!(stats.reads_issued, 4, "each blob read once: {stats:?}");
}

#[test]
fn on_ready_errors_stop_the_fetch() {
    let source = StreamingExpertSource::with_catalog(catalog(), StreamConfig::default()).unwrap();
    let mut seen = HashMap::new();
    let err = source
        .fetch(1, &[0, 1, 2], &mut |i, b| {
            seen.insert(i, b.len());
            Err(FormatError::NotFound("model refused".into()))
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "model refused");
    assert_eq!(seen.len(), 1);
    // The source still works afterwards.
    fetch_all(&source, 1, &[0, 1, 2]).unwrap();
}

#[test]
fn hints_that_keep_missing_are_suppressed() {
    let source = StreamingExpertSource::with_catalog(
        catalog(),
        config(EngineKind::Pread { threads: 2 }, IoMode::Buffered),
    )
    .unwrap();
    for round in 0..40 {
        // Hint experts 6 and 7 of layer 2, then fetch 0 and 1: every prefetch is wasted.
        source.hint(2, &[6, 7]);
        std::thread::sleep(Duration::from_millis(1));
        fetch_all(&source, 2, &[(round % 2) as u32, 1]).unwrap();
    }
    let stats = source.stats();
    assert!(stats.prefetch_suppressed > 20, "{stats:?}");
    assert!(stats.prefetch_issued < 30, "{stats:?}");
    assert_eq!(stats.prefetch_used, 0);
}

#[test]
fn config_values_out_of_range_are_refused() {
    let bad = StreamConfig {
        prefetch_min_accuracy: 1.5,
        ..StreamConfig::default()
    };
    let err = StreamingExpertSource::with_catalog(catalog(), bad)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("prefetch_min_accuracy 1.5"), "{err}");
    let bad = StreamConfig {
        engine: EngineKind::IoUring { queue_depth: 5000 },
        ..StreamConfig::default()
    };
    let err = StreamingExpertSource::with_catalog(catalog(), bad)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("queue depth 5000"), "{err}");
}
