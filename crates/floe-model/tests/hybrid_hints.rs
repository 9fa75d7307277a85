//! Prefetch hints in the hybrid models (Qwen3-Next, Qwen3.5-MoE): with a source that wants
//! hints, every sparse layer after the first is hinted once per forward pass on the previous
//! layer's state, and the logits are bit-identical to those of a source that wants none.

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use common::{convert_to, run_chunks, Fixture};
use floe_compute::cpu::CpuBackend;
use floe_format::convert::ConvertOptions;
use floe_format::{ExpertSource, FormatError, PreadExpertSource};
use floe_model::load_model;

/// The hybrid fixtures (as in `hybrid_fixtures.rs`).
const HYBRID: [&str; 3] = ["qwen3_next", "qwen3_5_moe", "qwen3_5_moe_text"];

/// Reads experts with `pread`, wants hints and records each one as `(layer, experts)`.
struct HintRecorder {
    inner: PreadExpertSource,
    hints: Mutex<Vec<(u32, Vec<u32>)>>,
}

impl ExpertSource for HintRecorder {
    fn fetch(
        &self,
        layer: u32,
        experts: &[u32],
        on_ready: &mut dyn FnMut(usize, Bytes) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        self.inner.fetch(layer, experts, on_ready)
    }

    fn hint(&self, layer: u32, experts: &[u32]) {
        self.hints.lock().unwrap().push((layer, experts.to_vec()));
    }

    fn wants_hints(&self) -> bool {
        true
    }
}

#[test]
fn hinted_logits_equal_unhinted_ones_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    for name in HYBRID {
        let fixture = Fixture::read("hf", name);
        let checkpoint = convert_to(
            &fixture.dir,
            &tmp.path().join(name),
            &ConvertOptions::default(),
        );
        let backend = Arc::new(CpuBackend::new(Some(1)).unwrap());
        let chunks = [fixture.tokens.len() - 2, 1, 1];

        let plain: Arc<dyn ExpertSource> = Arc::new(PreadExpertSource::new(checkpoint.clone()));
        let model = load_model(checkpoint.clone(), backend.clone(), plain).unwrap();
        let unhinted = run_chunks(model.as_ref(), &fixture.tokens, &chunks);
        let sparse_layers = model.info().sparse_layers;
        let layers = model.info().layers;
        drop(model);

        let recorder = Arc::new(HintRecorder {
            inner: PreadExpertSource::new(checkpoint.clone()),
            hints: Mutex::new(Vec::new()),
        });
        let model = load_model(checkpoint, backend, recorder.clone()).unwrap();
        let hinted = run_chunks(model.as_ref(), &fixture.tokens, &chunks);
        assert!(
            hinted == unhinted,
            "{name}: hinted logits differ from unhinted ones"
        );

        let hints = recorder.hints.lock().unwrap();
        // In these fixtures every layer is sparse, so layers 1.. are each hinted per pass.
        assert_eq!(sparse_layers, layers, "{name}: fixture has dense layers");
        assert_eq!(
            hints.len(),
            chunks.len() * (layers - 1),
            "{name}: hint count"
        );
        for (pass, per_pass) in hints.chunks(layers - 1).enumerate() {
            let hinted_layers: Vec<u32> = per_pass.iter().map(|(l, _)| *l).collect();
            let expected: Vec<u32> = (1..layers as u32).collect();
            assert_eq!(hinted_layers, expected, "{name}: pass {pass} hinted layers");
            assert!(
                per_pass.iter().all(|(_, experts)| !experts.is_empty()),
                "{name}: pass {pass} hinted no experts"
            );
        }
    }
}
