//! Prefetch hints in every architecture: with a source that wants hints, every sparse layer
//! after the first is hinted once per forward pass on the previous layer's state (read back
//! with that layer's own routing where it is sparse too: `Backend::softmax_topk_many`, after a
//! dense layer on its own), and the logits are bit-identical to those of a source that wants
//! none. On the CPU backend and, where an adapter exists, the wgpu backend.

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use common::{convert_to, run_chunks, Fixture};
use floe_compute::cpu::CpuBackend;
use floe_compute::Backend;
use floe_format::convert::ConvertOptions;
use floe_format::{ExpertSource, FormatError, PreadExpertSource};
use floe_model::load_model;

/// Every HF fixture with the layers hinted in each forward pass: the sparse layers after the
/// first (`qwen3_moe_a` has a dense layer 1, `qwen3_moe_b` sparse layers 1 and 3 of 4).
const FIXTURES: [(&str, &[u32]); 7] = [
    ("qwen3_moe_a", &[2]),
    ("qwen3_moe_b", &[1, 3]),
    ("mixtral", &[1]),
    ("olmoe", &[1]),
    ("qwen3_next", &[1, 2]),
    ("qwen3_5_moe", &[1, 2]),
    ("qwen3_5_moe_text", &[1, 2]),
];

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
    hints_leave_logits_unchanged(&Arc::new(CpuBackend::new(Some(1)).unwrap()));
}

#[test]
fn hinted_logits_equal_unhinted_ones_on_wgpu() {
    if let Some(backend) = common::wgpu::backend() {
        hints_leave_logits_unchanged(&backend);
    }
}

fn hints_leave_logits_unchanged<B: Backend + 'static>(backend: &Arc<B>) {
    let tmp = tempfile::tempdir().unwrap();
    for (name, hinted_layers) in FIXTURES {
        let fixture = Fixture::read("hf", name);
        let checkpoint = convert_to(
            &fixture.dir,
            &tmp.path().join(name),
            &ConvertOptions::default(),
        );
        let chunks = [fixture.tokens.len() - 2, 1, 1];

        let plain: Arc<dyn ExpertSource> = Arc::new(PreadExpertSource::new(checkpoint.clone()));
        let model = load_model(checkpoint.clone(), backend.clone(), plain).unwrap();
        let unhinted = run_chunks(model.as_ref(), &fixture.tokens, &chunks);
        drop(model);

        let recorder = Arc::new(HintRecorder {
            inner: PreadExpertSource::new(checkpoint.clone()),
            hints: Mutex::new(Vec::new()),
        });
        let model = load_model(checkpoint.clone(), backend.clone(), recorder.clone()).unwrap();
        let hinted = run_chunks(model.as_ref(), &fixture.tokens, &chunks);
        assert!(
            hinted == unhinted,
            "{name}: hinted logits differ from unhinted ones"
        );

        let hints = recorder.hints.lock().unwrap();
        assert_eq!(
            hints.len(),
            chunks.len() * hinted_layers.len(),
            "{name}: hint count"
        );
        for (pass, per_pass) in hints.chunks(hinted_layers.len()).enumerate() {
            let layers: Vec<u32> = per_pass.iter().map(|(l, _)| *l).collect();
            assert_eq!(layers, hinted_layers, "{name}: pass {pass} hinted layers");
            for (layer, ids) in per_pass {
                let experts = checkpoint.expert_layer(*layer).unwrap().blobs.len();
                assert!(
                    !ids.is_empty()
                        && ids.windows(2).all(|w| w[0] < w[1])
                        && ids.iter().all(|&e| (e as usize) < experts),
                    "{name}: pass {pass} hinted layer {layer} with {ids:?} (want sorted, distinct ids below {experts})"
                );
            }
        }
    }
}
