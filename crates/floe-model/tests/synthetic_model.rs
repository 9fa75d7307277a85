//! End-to-end tests of the Qwen3-MoE forward pass on small synthetic checkpoints (random
//! weights): prefill, decode and mixed splits agree; experts are fetched layer-major; bad input
//! is an error; generation is reproducible.

use std::sync::Arc;

use floe_compute::cpu::CpuBackend;
use floe_format::{Checkpoint, ExpertSource, PreadExpertSource};
use floe_model::synthetic::{write_synthetic_qwen3_moe, SyntheticSpec};
use floe_model::{
    generate, load_model, CountingExpertSource, GenerateOptions, LogitsWanted, Model, ModelError,
    Sampler, SamplingParams, StopReason,
};
use floe_quant::QuantFormat;

fn tiny_spec() -> SyntheticSpec {
    SyntheticSpec::tiny()
}

struct Loaded {
    _dir: tempfile::TempDir,
    model: Box<dyn Model<CpuBackend>>,
    traffic: Arc<CountingExpertSource>,
}

fn load(spec: &SyntheticSpec) -> Loaded {
    let dir = tempfile::tempdir().unwrap();
    let path = write_synthetic_qwen3_moe(&dir.path().join("model"), spec, false).unwrap();
    let checkpoint = Arc::new(Checkpoint::open(&path).unwrap());
    let source: Arc<dyn ExpertSource> = Arc::new(PreadExpertSource::new(checkpoint.clone()));
    let traffic = Arc::new(CountingExpertSource::new(source));
    let backend = Arc::new(CpuBackend::new(Some(2)).unwrap());
    let model = load_model(checkpoint, backend, traffic.clone()).unwrap();
    Loaded {
        _dir: dir,
        model,
        traffic,
    }
}

fn prompt(n: usize) -> Vec<u32> {
    (0..n as u32).map(|i| (i * 37 + 11) % 270).collect()
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    let max_ref = b.iter().fold(0f32, |m, x| m.max(x.abs()));
    let tol = 1e-4 * max_ref.max(1e-6);
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(worst <= tol, "{what}: max |Δ| {worst} > {tol}");
}

#[test]
fn prefill_decode_and_mixed_splits_agree() {
    let m = load(&tiny_spec());
    let tokens = prompt(12);
    let mut state = m.model.new_state(32).unwrap();
    let all = m
        .model
        .forward(&tokens, &mut state, LogitsWanted::All)
        .unwrap();
    assert_eq!((all.rows, all.vocab), (12, m.model.info().vocab_size));
    assert_eq!(state.len(), 12);
    assert!(all.values.iter().all(|v| v.is_finite()));

    let mut state = m.model.new_state(32).unwrap();
    for (i, &t) in tokens.iter().enumerate() {
        let one = m
            .model
            .forward(&[t], &mut state, LogitsWanted::All)
            .unwrap();
        assert_close(one.row(0), all.row(i), &format!("decode position {i}"));
    }

    for split in [1, 5, 11] {
        let mut state = m.model.new_state(32).unwrap();
        let head = m
            .model
            .forward(&tokens[..split], &mut state, LogitsWanted::All)
            .unwrap();
        let tail = m
            .model
            .forward(&tokens[split..], &mut state, LogitsWanted::All)
            .unwrap();
        for i in 0..tokens.len() {
            let row = if i < split {
                head.row(i)
            } else {
                tail.row(i - split)
            };
            assert_close(row, all.row(i), &format!("split {split} position {i}"));
        }
    }

    let mut state = m.model.new_state(32).unwrap();
    let last = m
        .model
        .forward(&tokens, &mut state, LogitsWanted::Last)
        .unwrap();
    assert_eq!(last.rows, 1);
    assert_close(last.row(0), all.last(), "last-only logits");

    // Distinct positions give distinct logits (the model is not degenerate).
    assert_ne!(all.row(0), all.row(1));
}

#[test]
fn prefill_reads_each_expert_once_per_layer_and_decode_reads_top_k() {
    let spec = tiny_spec();
    let m = load(&spec);
    let mut state = m.model.new_state(64).unwrap();
    let tokens = prompt(40);
    m.model
        .forward(&tokens, &mut state, LogitsWanted::Last)
        .unwrap();
    let prefill = m.traffic.traffic();
    // 40 tokens × 2 experts × 2 layers = 160 routings, but at most 8 distinct experts a layer.
    assert!(
        prefill.blobs <= (spec.layers * spec.experts) as u64,
        "{prefill:?}"
    );
    assert!(prefill.blobs >= spec.layers as u64 * spec.top_k as u64);
    let blob_bytes = spec.expert_bytes().unwrap() as u64;
    assert!(prefill.bytes >= prefill.blobs * blob_bytes);

    m.model
        .forward(&[3], &mut state, LogitsWanted::Last)
        .unwrap();
    let decode = m.traffic.traffic().since(&prefill);
    assert_eq!(decode.blobs, (spec.layers * spec.top_k) as u64);
    assert!(state.timings.expert_compute > std::time::Duration::ZERO);
}

#[test]
fn bad_input_is_an_error_and_leaves_the_state_unchanged() {
    let m = load(&tiny_spec());
    let vocab = m.model.info().vocab_size;
    let mut state = m.model.new_state(4).unwrap();

    let err = m
        .model
        .forward(&prompt(5), &mut state, LogitsWanted::Last)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::ContextOverflow {
                needed: 5,
                capacity: 4
            }
        ),
        "{err}"
    );
    assert_eq!(state.len(), 0);

    let err = m
        .model
        .forward(&[1, vocab as u32, 2], &mut state, LogitsWanted::Last)
        .unwrap_err();
    assert!(
        matches!(err, ModelError::TokenOutOfRange { position: 1, .. }),
        "{err}"
    );
    assert!(matches!(
        m.model.forward(&[], &mut state, LogitsWanted::Last),
        Err(ModelError::EmptyInput(_))
    ));

    m.model
        .forward(&prompt(4), &mut state, LogitsWanted::Last)
        .unwrap();
    let err = m
        .model
        .forward(&[1], &mut state, LogitsWanted::Last)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::ContextOverflow {
                needed: 5,
                capacity: 4
            }
        ),
        "{err}"
    );
    assert_eq!(state.len(), 4);

    let too_long = m.model.info().max_context + 1;
    assert!(matches!(
        m.model.new_state(too_long),
        Err(ModelError::Argument { .. })
    ));
    assert!(matches!(
        m.model.new_state(0),
        Err(ModelError::Argument { .. })
    ));
}

#[test]
fn truncating_the_state_reruns_from_there() {
    let m = load(&tiny_spec());
    let tokens = prompt(6);
    let mut state = m.model.new_state(16).unwrap();
    let first = m
        .model
        .forward(&tokens, &mut state, LogitsWanted::All)
        .unwrap();
    state.truncate(3).unwrap();
    let again = m
        .model
        .forward(&tokens[3..], &mut state, LogitsWanted::All)
        .unwrap();
    for i in 0..3 {
        assert_close(again.row(i), first.row(3 + i), "after truncate");
    }
    assert!(state.truncate(10).is_err());
}

#[test]
fn generation_is_reproducible_and_stops_as_asked() {
    let m = load(&tiny_spec());
    let run = |params: SamplingParams, max_tokens: usize, stop_tokens: Vec<u32>, context: usize| {
        let mut state = m.model.new_state(context).unwrap();
        let mut sampler = Sampler::new(params).unwrap();
        let mut streamed = Vec::new();
        let options = GenerateOptions {
            max_tokens,
            stop_tokens,
        };
        let g = generate(
            m.model.as_ref(),
            &mut state,
            &prompt(5),
            &mut sampler,
            &options,
            Some(&m.traffic),
            &mut |t| {
                streamed.push(t);
                Ok(())
            },
        )
        .unwrap();
        (g, streamed)
    };
    let sampled = SamplingParams {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        seed: 99,
        ..SamplingParams::default()
    };
    let (a, streamed) = run(sampled.clone(), 10, vec![], 32);
    let (b, _) = run(sampled.clone(), 10, vec![], 32);
    assert_eq!(a.tokens, b.tokens);
    assert_eq!(a.tokens, streamed);
    assert_eq!(a.stop, StopReason::MaxTokens);
    assert_eq!((a.prefill.tokens, a.decode.tokens), (5, 9));
    assert!(a.decode.experts.blobs > 0 && a.prefill.experts.blobs > 0);

    let (other, _) = run(
        SamplingParams {
            seed: 100,
            ..sampled.clone()
        },
        10,
        vec![],
        32,
    );
    assert_ne!(a.tokens, other.tokens);

    let stop = a.tokens[3];
    let (s, streamed) = run(sampled.clone(), 10, vec![stop], 32);
    let first = a.tokens.iter().position(|&t| t == stop).unwrap();
    assert_eq!(s.stop, StopReason::StopToken(stop));
    assert_eq!(s.tokens, a.tokens[..=first]);
    assert_eq!(streamed, a.tokens[..first]);

    let (full, _) = run(sampled, 10, vec![], 8);
    assert_eq!(full.stop, StopReason::ContextFull);
    assert_eq!(full.tokens.len(), 4);
}

#[test]
fn q4_experts_agree_between_prefill_and_decode() {
    // The q4 kernels for a batch of rows (prefill) and for one row (decode) must agree.
    let q4 = SyntheticSpec {
        expert_format: QuantFormat::Q4,
        dense_format: QuantFormat::Bf16,
        ..tiny_spec()
    };
    let m = load(&q4);
    let tokens = prompt(8);
    let mut state = m.model.new_state(16).unwrap();
    let all = m
        .model
        .forward(&tokens, &mut state, LogitsWanted::All)
        .unwrap();
    assert!(all.values.iter().all(|v| v.is_finite()));
    let mut state = m.model.new_state(16).unwrap();
    for (i, &t) in tokens.iter().enumerate() {
        let one = m
            .model
            .forward(&[t], &mut state, LogitsWanted::Last)
            .unwrap();
        assert_close(one.row(0), all.row(i), &format!("q4 decode position {i}"));
    }
}
