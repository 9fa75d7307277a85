//! Tests of synthetic checkpoint writing (the `tiny` preset, a few MB).

use std::sync::Arc;

use floe_format::{Checkpoint, ExpertSource};
use floe_quant::{QuantFormat, QuantMatrix};

use super::*;
use crate::{StreamConfig, StreamingExpertSource};

fn write_tiny(dir: &Path, layers: u32, format: QuantFormat) -> PathBuf {
    let preset = Preset::named("tiny").unwrap().with_layers(layers).unwrap();
    let mut options = SynthOptions::new(preset, format);
    options.eos_token_id = Some(3);
    options
        .extra_files
        .push(("tokenizer.json".into(), b"{}".to_vec()));
    let mut calls = 0;
    let mut last = (0, 0);
    let out = write_checkpoint(&dir.join("tiny"), &options, &mut |done, total| {
        calls += 1;
        assert!(done >= last.0 && done <= total);
        last = (done, total);
    })
    .unwrap();
    assert!(
        calls > 0 && last.0 == last.1,
        "progress reaches the total: {last:?}"
    );
    out
}

#[test]
fn a_tiny_checkpoint_opens_and_every_blob_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out = write_tiny(dir.path(), 2, QuantFormat::Q4);
    let checkpoint = Arc::new(Checkpoint::open(&out).unwrap());
    assert_eq!(checkpoint.arch(), "qwen3_moe");
    assert_eq!(checkpoint.config()["num_hidden_layers"], 2);
    assert_eq!(checkpoint.config()["eos_token_id"], 3);
    assert!(checkpoint.extra_file("tokenizer.json").is_some());
    assert_eq!(checkpoint.manifest().expert_layers.len(), 2);
    let embed = checkpoint.dense("model.embed_tokens.weight").unwrap();
    assert_eq!(
        (embed.shape.clone(), embed.format),
        (vec![512, 256], QuantFormat::Q4)
    );
    assert_eq!(
        checkpoint
            .dense("model.layers.1.self_attn.q_norm.weight")
            .unwrap()
            .shape,
        vec![64]
    );

    let source = StreamingExpertSource::new(checkpoint.clone(), StreamConfig::default()).unwrap();
    let experts: Vec<u32> = (0..16).collect();
    let mut values = vec![0f32; 128 * 256];
    for layer in 0..2 {
        source
            .fetch(layer, &experts, &mut |_, blob| {
                for (name, view) in checkpoint.split_blob(layer, &blob)? {
                    let matrix =
                        QuantMatrix::new(view.format, view.rows, view.cols, &view.bytes).unwrap();
                    matrix.dequantize(&mut values[..view.rows * view.cols]);
                    assert!(
                        values.iter().all(|v| v.is_finite() && v.abs() < 1.0),
                        "{name}"
                    );
                }
                Ok(())
            })
            .unwrap();
    }
    assert_eq!(source.stats().checksum_failures, 0);
    assert_eq!(source.stats().requests, 32);
}

#[test]
fn estimates_match_the_written_sizes() {
    let dir = tempfile::tempdir().unwrap();
    for format in [QuantFormat::Q2, QuantFormat::Q8_0] {
        let out = write_tiny(dir.path(), 1, format);
        let checkpoint = Checkpoint::open(&out).unwrap();
        let preset = Preset::named("tiny").unwrap().with_layers(1).unwrap();
        let options = SynthOptions::new(preset, format);
        let tensor_bytes: u64 = checkpoint
            .manifest()
            .dense
            .iter()
            .map(|t| t.length)
            .sum::<u64>()
            + checkpoint
                .manifest()
                .expert_layers
                .iter()
                .map(|l| l.blob_length * l.blobs.len() as u64)
                .sum::<u64>();
        assert_eq!(estimate_bytes(&options).unwrap(), tensor_bytes, "{format}");
        assert_eq!(
            checkpoint.manifest().expert_layers[0].blob_length,
            expert_bytes(&options).unwrap()
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn an_existing_output_is_refused_without_force() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny(dir.path(), 1, QuantFormat::Q4);
    let options = SynthOptions::new(Preset::named("tiny").unwrap(), QuantFormat::Q4);
    let err = write_checkpoint(&dir.path().join("tiny"), &options, &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("tiny"), "{err}");
}

#[test]
fn the_streaming_source_is_a_drop_in_for_the_pread_source() {
    use crate::engine::{EngineKind, IoMode};
    let dir = tempfile::tempdir().unwrap();
    let out = write_tiny(dir.path(), 2, QuantFormat::Q4);
    let checkpoint = Arc::new(Checkpoint::open(&out).unwrap());
    let plain = floe_format::PreadExpertSource::new(checkpoint.clone());
    let experts = [15, 0, 7, 3];
    let collect = |source: &dyn ExpertSource, layer: u32| {
        let mut got = vec![bytes::Bytes::new(); experts.len()];
        source
            .fetch(layer, &experts, &mut |i, blob| {
                got[i] = blob;
                Ok(())
            })
            .unwrap();
        got
    };
    let configs = [
        StreamConfig::default(),
        StreamConfig {
            engine: EngineKind::IoUring { queue_depth: 4 },
            io_mode: IoMode::Buffered,
            ..StreamConfig::default()
        },
        StreamConfig {
            engine: EngineKind::Mmap { threads: 2 },
            ..StreamConfig::default()
        },
    ];
    for config in configs {
        let streaming: Box<dyn ExpertSource> =
            Box::new(StreamingExpertSource::new(checkpoint.clone(), config).unwrap());
        for layer in 0..2 {
            assert_eq!(
                collect(&*streaming, layer),
                collect(&plain, layer),
                "layer {layer}"
            );
        }
        let err = streaming.fetch(9, &[0], &mut |_, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("layer 9"), "{err}");
    }
}
