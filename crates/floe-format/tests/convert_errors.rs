//! Bad input to the converter: each gives a clear error naming the file or tensor, and leaves
//! neither an output nor a `.partial` directory behind.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use floe_format::convert::{convert, ConvertOptions};
use floe_format::FormatError;
use safetensors::tensor::TensorView;
use safetensors::Dtype;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/hf")
        .join(name)
}

/// Copies fixture `name` (a single-file one) into `dir/src`.
fn copy_fixture(name: &str, dir: &Path) -> PathBuf {
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    for entry in fs::read_dir(fixture(name)).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, src.join(path.file_name().unwrap())).unwrap();
    }
    src
}

/// Rewrites `dir/model.safetensors` after `edit` changes its tensors (name → dtype, shape, bytes).
fn edit_tensors(
    dir: &Path,
    edit: impl FnOnce(&mut BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>),
) {
    let path = dir.join("model.safetensors");
    let bytes = fs::read(&path).unwrap();
    let mut tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> =
        safetensors::SafeTensors::deserialize(&bytes)
            .unwrap()
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
            .collect();
    edit(&mut tensors);
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, (d, s, b))| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn convert_error(src: &Path, out: &Path) -> String {
    let result = convert(src, out, &ConvertOptions::default(), &mut |_| {});
    let err = match result {
        Ok(_) => panic!("{} converted although it is bad", src.display()),
        Err(err) => err.to_string(),
    };
    assert!(!out.exists(), "an output was left behind");
    let partial = out.with_file_name(format!(
        "{}.partial",
        out.file_name().unwrap().to_string_lossy()
    ));
    assert!(!partial.exists(), "a .partial directory was left behind");
    err
}

fn assert_contains(err: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            err.contains(part),
            "error {err:?} does not contain {part:?}"
        );
    }
}

#[test]
fn missing_or_malformed_config() {
    let tmp = tempfile::tempdir().unwrap();
    let src = copy_fixture("olmoe", tmp.path());
    let out = tmp.path().join("out");
    fs::remove_file(src.join("config.json")).unwrap();
    assert_contains(
        &convert_error(&src, &out),
        &["config.json", "cannot read the model config"],
    );
    fs::write(src.join("config.json"), b"{\"model_type\": \"olmoe\",").unwrap();
    assert_contains(
        &convert_error(&src, &out),
        &["config.json", "malformed JSON"],
    );
    fs::write(
        src.join("config.json"),
        b"{\"model_type\": \"olmoe\", \"hidden_size\": 64}",
    )
    .unwrap();
    assert_contains(
        &convert_error(&src, &out),
        &["config.json", "num_attention_heads is missing"],
    );
}

#[test]
fn unsupported_architecture_lists_the_supported_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let src = copy_fixture("olmoe", tmp.path());
    let config = fs::read_to_string(src.join("config.json"))
        .unwrap()
        .replace("\"olmoe\"", "\"deepseek_v3\"");
    fs::write(src.join("config.json"), config).unwrap();
    let err = convert_error(&src, &tmp.path().join("out"));
    assert_contains(
        &err,
        &[
            "unsupported architecture \"deepseek_v3\"",
            "qwen3_moe",
            "qwen3_5_moe",
            "qwen3_5_moe_text",
            "qwen3_next",
            "mixtral",
            "olmoe",
        ],
    );
}

#[test]
fn missing_extra_and_misshapen_tensors_are_all_named() {
    let tmp = tempfile::tempdir().unwrap();
    let src = copy_fixture("olmoe", tmp.path());
    edit_tensors(&src, |t| {
        t.remove("model.layers.1.self_attn.k_norm.weight").unwrap();
        t.remove("model.layers.0.mlp.experts.2.up_proj.weight")
            .unwrap();
        let extra = t["model.norm.weight"].clone();
        t.insert("model.layers.0.self_attn.rotary.weight".into(), extra);
        let (dtype, _, bytes) = t.remove("model.layers.1.self_attn.q_proj.weight").unwrap();
        t.insert(
            "model.layers.1.self_attn.q_proj.weight".into(),
            (dtype, vec![32, 128], bytes),
        );
    });
    let err = convert_error(&src, &tmp.path().join("out"));
    assert_contains(
        &err,
        &[
            "4 problems",
            "missing tensor 'model.layers.1.self_attn.k_norm.weight' (expected shape [32])",
            "missing tensor 'model.layers.0.mlp.experts.2.up_proj.weight' (expert 2 of layer 0, part up; expected shape [64, 64])",
            "unexpected tensor 'model.layers.0.self_attn.rotary.weight'",
            "tensor 'model.layers.1.self_attn.q_proj.weight' in model.safetensors has shape [32, 128], expected [64, 64]",
        ],
    );
}

#[test]
fn unsupported_dtype_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let src = copy_fixture("olmoe", tmp.path());
    edit_tensors(&src, |t| {
        let (_, shape, bytes) = t.remove("model.norm.weight").unwrap();
        t.insert("model.norm.weight".into(), (Dtype::I32, shape, bytes));
    });
    let err = convert_error(&src, &tmp.path().join("out"));
    assert_contains(
        &err,
        &["tensor 'model.norm.weight' in model.safetensors has dtype I32"],
    );
}

#[test]
fn truncated_safetensors_file() {
    let tmp = tempfile::tempdir().unwrap();
    let src = copy_fixture("mixtral", tmp.path());
    let file = fs::OpenOptions::new()
        .write(true)
        .open(src.join("model.safetensors"))
        .unwrap();
    let length = file.metadata().unwrap().len();
    file.set_len(length - 100).unwrap();
    let err = convert_error(&src, &tmp.path().join("out"));
    assert_contains(
        &err,
        &["model.safetensors", "truncated safetensors file: tensor '"],
    );
}

#[test]
fn corrupt_safetensors_header() {
    let tmp = tempfile::tempdir().unwrap();
    let src = copy_fixture("mixtral", tmp.path());
    let path = src.join("model.safetensors");
    let mut bytes = fs::read(&path).unwrap();
    bytes[8] = b'!';
    fs::write(&path, &bytes).unwrap();
    let err = convert_error(&src, &tmp.path().join("out"));
    assert_contains(
        &err,
        &[
            "model.safetensors",
            "corrupt safetensors file: header is not valid JSON",
        ],
    );
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let err = convert_error(&src, &tmp.path().join("out"));
    assert_contains(&err, &["model.safetensors", "header length"]);
    fs::write(&path, b"abc").unwrap();
    let err = convert_error(&src, &tmp.path().join("out"));
    assert_contains(&err, &["model.safetensors", "too short for a header"]);
}

#[test]
fn no_weights_or_a_bad_index() {
    let tmp = tempfile::tempdir().unwrap();
    let src = copy_fixture("mixtral", tmp.path());
    fs::remove_file(src.join("model.safetensors")).unwrap();
    assert_contains(
        &convert_error(&src, &tmp.path().join("out")),
        &["no safetensors weights found"],
    );

    let sharded = tmp.path().join("sharded");
    fs::create_dir(&sharded).unwrap();
    for entry in fs::read_dir(fixture("qwen3_moe_c")).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, sharded.join(path.file_name().unwrap())).unwrap();
    }
    fs::remove_file(sharded.join("model-00003-of-00004.safetensors")).unwrap();
    let err = convert_error(&sharded, &tmp.path().join("out"));
    assert_contains(&err, &["model-00003-of-00004.safetensors"]);
}

#[test]
fn existing_output_needs_force_and_the_source_is_never_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let src = copy_fixture("qwen3_moe_b", tmp.path());
    let before: BTreeMap<_, _> = fs::read_dir(&src)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.clone(), fs::read(&p).unwrap())
        })
        .collect();
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("keep.txt"), b"mine").unwrap();
    let err = convert(&src, &out, &ConvertOptions::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, FormatError::OutputExists { .. }), "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(fs::read(out.join("keep.txt")).unwrap(), b"mine");

    let options = ConvertOptions {
        force: true,
        ..ConvertOptions::default()
    };
    convert(&src, &out, &options, &mut |_| {}).unwrap();
    assert!(!out.join("keep.txt").exists());
    floe_format::Checkpoint::open(&out).unwrap();

    // Writing into the source is refused, even with force.
    let err = convert(&src, &src.join("inside"), &options, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("outside the source"), "{err}");
    let err = convert(&src, &src, &options, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("outside the source"), "{err}");
    let after: BTreeMap<_, _> = fs::read_dir(&src)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.clone(), fs::read(&p).unwrap())
        })
        .collect();
    assert!(before == after, "the source changed");
}

#[test]
fn mlx_sources_are_not_requantized() {
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mlx-models/olmoe-q4");
    let options = ConvertOptions {
        expert_format: Some(floe_quant::QuantFormat::Q2),
        ..ConvertOptions::default()
    };
    let err = convert(&src, &tmp.path().join("out"), &options, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert_contains(
        &err,
        &[
            "MLX-quantized as q4",
            "cannot requantize them to q2",
            "--quant",
        ],
    );
}
