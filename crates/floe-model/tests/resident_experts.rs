//! `LoadOptions::resident_experts` beyond the fixture comparisons of `hf_fixtures.rs` and
//! `mlx_fixtures.rs`: loading fetches every blob of every sparse layer exactly once, forward
//! passes fetch nothing and give the source no hints, and a source that fails or leaves an
//! expert out while loading is an error naming the layer.

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use common::{convert_to, run_chunks, Fixture};
use floe_compute::cpu::CpuBackend;
use floe_format::convert::ConvertOptions;
use floe_format::{Checkpoint, ExpertSource, FormatError, PreadExpertSource};
use floe_model::{load_model_with, CountingExpertSource, LoadOptions, ModelError};

/// One fixture per architecture family (attention-only and hybrid).
const FIXTURES: [&str; 4] = ["qwen3_moe_a", "mixtral", "olmoe", "qwen3_5_moe"];

const RESIDENT: LoadOptions = LoadOptions {
    experts_per_token: None,
    resident_experts: true,
};

fn converted(name: &str, tmp: &std::path::Path) -> (Fixture, Arc<Checkpoint>) {
    let fixture = Fixture::read("hf", name);
    let checkpoint = convert_to(&fixture.dir, &tmp.join(name), &ConvertOptions::default());
    (fixture, checkpoint)
}

fn cpu() -> Arc<CpuBackend> {
    Arc::new(CpuBackend::new(Some(2)).unwrap())
}

/// Reads with `pread`, wants hints and records them, and records each fetch's `(layer, ids)`;
/// `drop_expert` leaves that expert out of every delivery, `fail_layer` fails that layer's fetch.
struct Recorder {
    inner: PreadExpertSource,
    fetches: Mutex<Vec<(u32, Vec<u32>)>>,
    hints: Mutex<Vec<u32>>,
    drop_expert: Option<u32>,
    fail_layer: Option<u32>,
}

impl Recorder {
    fn new(checkpoint: &Arc<Checkpoint>) -> Self {
        Self {
            inner: PreadExpertSource::new(checkpoint.clone()),
            fetches: Mutex::new(Vec::new()),
            hints: Mutex::new(Vec::new()),
            drop_expert: None,
            fail_layer: None,
        }
    }
}

impl ExpertSource for Recorder {
    fn fetch(
        &self,
        layer: u32,
        experts: &[u32],
        on_ready: &mut dyn FnMut(usize, Bytes) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        self.fetches.lock().unwrap().push((layer, experts.to_vec()));
        if self.fail_layer == Some(layer) {
            return Err(FormatError::NotFound(format!(
                "test: layer {layer} is unreadable"
            )));
        }
        let drop = self.drop_expert;
        self.inner.fetch(layer, experts, &mut |i, blob| {
            if drop == Some(experts[i]) {
                Ok(())
            } else {
                on_ready(i, blob)
            }
        })
    }

    fn hint(&self, layer: u32, _experts: &[u32]) {
        self.hints.lock().unwrap().push(layer);
    }

    fn wants_hints(&self) -> bool {
        true
    }
}

#[test]
fn every_blob_is_read_once_at_load_and_never_per_token() {
    let tmp = tempfile::tempdir().unwrap();
    for name in FIXTURES {
        let (fixture, checkpoint) = converted(name, tmp.path());
        let recorder = Arc::new(Recorder::new(&checkpoint));
        let counter = Arc::new(CountingExpertSource::new(recorder.clone()));
        let model = load_model_with(checkpoint.clone(), cpu(), counter.clone(), &RESIDENT).unwrap();
        let layers = &checkpoint.manifest().expert_layers;
        assert_eq!(layers.len(), model.info().sparse_layers, "{name}");
        let blobs: usize = layers.iter().map(|l| l.blobs.len()).sum();
        let bytes: u64 = layers
            .iter()
            .map(|l| l.blob_length * l.blobs.len() as u64)
            .sum();
        let at_load = counter.traffic();
        assert_eq!(at_load.blobs, blobs as u64, "{name}: blobs fetched at load");
        assert!(at_load.bytes >= bytes, "{name}: bytes fetched at load");
        let fetches = recorder.fetches.lock().unwrap().clone();
        let mut fetched_layers: Vec<u32> = fetches.iter().map(|(l, _)| *l).collect();
        fetched_layers.sort_unstable();
        let mut expected: Vec<u32> = layers.iter().map(|l| l.layer).collect();
        expected.sort_unstable();
        assert_eq!(
            fetched_layers, expected,
            "{name}: one fetch per sparse layer"
        );
        for (layer, ids) in &fetches {
            let n = checkpoint.expert_layer(*layer).unwrap().blobs.len() as u32;
            assert_eq!(ids, &(0..n).collect::<Vec<_>>(), "{name}: layer {layer}");
        }

        let t = fixture.tokens.len();
        run_chunks(model.as_ref(), &fixture.tokens, &[5, 1, 1, t - 7]);
        assert_eq!(
            counter.traffic(),
            at_load,
            "{name}: a forward pass fetched experts"
        );
        assert_eq!(recorder.fetches.lock().unwrap().len(), fetches.len());
        assert!(
            recorder.hints.lock().unwrap().is_empty(),
            "{name}: resident experts gave prefetch hints"
        );
    }
}

#[test]
fn a_failing_or_incomplete_source_at_load_is_an_error_naming_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, checkpoint) = converted("olmoe", tmp.path());
    let last = checkpoint
        .manifest()
        .expert_layers
        .iter()
        .map(|l| l.layer)
        .max()
        .unwrap();
    let failing = Recorder {
        fail_layer: Some(last),
        ..Recorder::new(&checkpoint)
    };
    let err = load_model_with(checkpoint.clone(), cpu(), Arc::new(failing), &RESIDENT)
        .err()
        .expect("a failing fetch at load was accepted")
        .to_string();
    assert!(err.contains(&format!("layer {last}")), "{err}");

    let incomplete = Recorder {
        drop_expert: Some(2),
        ..Recorder::new(&checkpoint)
    };
    match load_model_with(checkpoint.clone(), cpu(), Arc::new(incomplete), &RESIDENT) {
        Err(ModelError::Argument { name, message }) => {
            assert_eq!(name, "expert", "{message}");
            assert!(
                message.contains("layer 0") && message.contains("expert 2"),
                "{message}"
            );
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a source that never delivered expert 2 was accepted"),
    }
    // The streamed path does not read at load, so the same source loads fine there.
    let incomplete = Recorder {
        drop_expert: Some(2),
        ..Recorder::new(&checkpoint)
    };
    assert!(load_model_with(
        checkpoint,
        cpu(),
        Arc::new(incomplete),
        &LoadOptions::default()
    )
    .is_ok());
}
