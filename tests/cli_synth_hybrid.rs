//! `floe synth` with the hybrid Qwen3.5 presets: the checkpoint is a valid `qwen3_5_moe_text`
//! model that floe-model loads and runs (finite logits, prefill equal to token-by-token decode),
//! and `--layers` writes a prefix slice whose config says so.

mod common;

use common::{floe, text};
use std::path::Path;
use std::sync::Arc;

use floe_compute::cpu::CpuBackend;
use floe_format::{Checkpoint, ExpertSource, PreadExpertSource};
use floe_model::{load_model, LogitsWanted, Model};

fn synth(out: &Path, extra: &[&str]) {
    let mut args = vec!["synth", "--preset", "qwen3.5-tiny", "--dense-quant", "f32"];
    args.extend_from_slice(extra);
    args.push(out.to_str().unwrap());
    let done = floe(&args);
    assert!(done.status.success(), "{}", text(&done.stderr));
}

fn load(dir: &Path) -> Box<dyn Model<CpuBackend>> {
    let checkpoint = Arc::new(Checkpoint::open(dir).unwrap());
    let source: Arc<dyn ExpertSource> = Arc::new(PreadExpertSource::new(checkpoint.clone()));
    load_model(
        checkpoint,
        Arc::new(CpuBackend::new(Some(1)).unwrap()),
        source,
    )
    .unwrap()
}

#[test]
fn the_tiny_hybrid_preset_runs_with_finite_logits_and_prefill_equals_decode() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("qwen35-tiny");
    synth(&out, &["--quant", "q4"]);
    let checkpoint = Checkpoint::open(&out).unwrap();
    let config = checkpoint.config();
    assert_eq!(config["model_type"], "qwen3_5_moe_text");
    assert_eq!(config["layer_types"][3], "full_attention");
    assert_eq!(config["layer_types"][0], "linear_attention");

    let tokens = [5u32, 17, 200, 3, 99, 42];
    let cli = floe(&[
        "logits",
        out.to_str().unwrap(),
        "--tokens",
        "5,17,200,3,99,42",
    ]);
    assert!(cli.status.success(), "{}", text(&cli.stderr));
    let json: serde_json::Value = serde_json::from_slice(&cli.stdout).expect("one JSON object");
    let rows = json["logits"].as_array().unwrap();
    assert_eq!(rows.len(), tokens.len());
    for row in rows {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 512);
        assert!(row.iter().all(|v| v.as_f64().is_some_and(f64::is_finite)));
    }

    let model = load(&out);
    assert_eq!(model.info().arch, "qwen3_5_moe_text");
    let mut state = model.new_state(tokens.len()).unwrap();
    let prefill = model
        .forward(&tokens, &mut state, LogitsWanted::All)
        .unwrap();
    let scale = prefill.values.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(scale.is_finite() && scale > 0.0, "logit scale {scale}");
    let mut state = model.new_state(tokens.len()).unwrap();
    for (i, &token) in tokens.iter().enumerate() {
        let step = model
            .forward(&[token], &mut state, LogitsWanted::Last)
            .unwrap();
        for (a, b) in step.row(0).iter().zip(prefill.row(i)) {
            assert!(
                (a - b).abs() <= 1e-4 * scale.max(1.0),
                "position {i}: decode {a} vs prefill {b}"
            );
        }
    }
    // Different positions give different logits (the mixers carry state).
    assert_ne!(prefill.row(0), prefill.row(tokens.len() - 1));
}

#[test]
fn layers_writes_a_prefix_slice() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("slice");
    synth(&out, &["--quant", "q8", "--layers", "2", "--no-tokenizer"]);
    let checkpoint = Checkpoint::open(&out).unwrap();
    let config = checkpoint.config();
    assert_eq!(config["num_hidden_layers"], 2);
    assert_eq!(config["layer_types"].as_array().unwrap().len(), 2);
    assert!(checkpoint
        .dense("model.layers.1.linear_attn.in_proj_qkv.weight")
        .is_ok());
    assert!(checkpoint
        .dense("model.layers.2.input_layernorm.weight")
        .is_err());
    let model = load(&out);
    assert_eq!(model.info().layers, 2);
    let mut state = model.new_state(3).unwrap();
    let logits = model
        .forward(&[1, 2, 3], &mut state, LogitsWanted::All)
        .unwrap();
    assert!(logits.values.iter().all(|v| v.is_finite()));
    let bad = floe(&["synth", "--preset", "qwen3.5-tiny", "--layers", "5", "x"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("has 4 layers"),
        "{}",
        text(&bad.stderr)
    );
}
