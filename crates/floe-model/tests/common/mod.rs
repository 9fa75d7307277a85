//! What the fixture tests share: reading a fixture's `reference.json`, converting a fixture with
//! floe-format's converter, loading it on any backend, running a token sequence in chunks, and
//! comparing logits with `max |Δ| / max |reference|` per position.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod wgpu;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use floe_compute::Backend;
use floe_format::convert::{convert, ConvertOptions};
use floe_format::{Checkpoint, ExpertSource, PreadExpertSource};
use floe_model::{load_model_with, LoadOptions, LogitsWanted, Model};
use serde_json::Value;

/// `fixtures/` of the workspace.
pub fn fixtures_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A fixture directory with the logits its reference library computed.
pub struct Fixture {
    /// Directory name (e.g. `mixtral`, `olmoe-q4`).
    pub name: String,
    /// The source checkpoint directory.
    pub dir: PathBuf,
    /// The reference token sequence.
    pub tokens: Vec<u32>,
    /// `tokens.len()` rows of vocabulary logits; row `i` after `tokens[..=i]`.
    pub logits: Vec<Vec<f32>>,
}

impl Fixture {
    /// Reads `fixtures/{group}/{name}/reference.json`.
    pub fn read(group: &str, name: &str) -> Fixture {
        let dir = fixtures_root().join(group).join(name);
        let reference = read_json(&dir.join("reference.json"));
        Fixture::from_reference(name, dir, &reference)
    }

    /// A fixture named `name` of the checkpoint in `dir` with the `tokens` and `logits` of
    /// `reference` (a `reference.json` value).
    pub fn from_reference(name: &str, dir: PathBuf, reference: &Value) -> Fixture {
        let tokens = reference["tokens"]
            .as_array()
            .expect("reference.json: tokens")
            .iter()
            .map(|t| t.as_u64().expect("token id") as u32)
            .collect();
        let logits = reference["logits"]
            .as_array()
            .expect("reference.json: logits")
            .iter()
            .map(|row| {
                row.as_array()
                    .expect("logits row")
                    .iter()
                    .map(|v| v.as_f64().expect("logit") as f32)
                    .collect()
            })
            .collect();
        Fixture {
            name: name.to_string(),
            dir,
            tokens,
            logits,
        }
    }
}

/// The config variant `tests/data/{variant}.json` (made by
/// `tests/data/make_variant_references.py`): its source fixture copied under `tmp` with the
/// variant's `config_overrides` merged into `config.json` and its `drop_tensors` removed from
/// `model.safetensors`, and transformers' logits for it.
/// Asserts that the overrides move the logits (> 0.1 relative at some position), so that
/// matching them tests the setting; for a `*_with_stored_head` variant (tied embeddings in the
/// config but a stored LM head) that transformers' logits are the source fixture's instead.
pub fn variant_fixture(variant: &str, tmp: &Path) -> Fixture {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let reference = read_json(&data.join(format!("{variant}.json")));
    let source = fixtures_root()
        .join("..")
        .join(reference["source"].as_str().expect("source"));
    let patched = tmp.join(format!("{variant}-source"));
    std::fs::create_dir_all(&patched).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, patched.join(path.file_name().unwrap())).unwrap();
    }
    let mut config = read_json(&source.join("config.json"));
    let overrides = reference["config_overrides"]
        .as_object()
        .expect("config_overrides is an object");
    for (key, value) in overrides {
        config[key] = value.clone();
    }
    std::fs::write(
        patched.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let drop: Vec<&str> = reference["drop_tensors"]
        .as_array()
        .map(|names| names.iter().map(|n| n.as_str().unwrap()).collect())
        .unwrap_or_default();
    if !drop.is_empty() {
        drop_tensors(&patched.join("model.safetensors"), &drop);
    }
    let fixture = Fixture::from_reference(variant, patched, &reference);
    let plain = Fixture::read("hf", source.file_name().unwrap().to_str().unwrap());
    assert_eq!(plain.tokens, fixture.tokens);
    let moved = worst_relative_error(&plain.logits, &fixture.logits);
    if variant.ends_with("_with_stored_head") {
        // transformers ignores `tie_word_embeddings` when the checkpoint stores its own head.
        assert!(
            moved < 1e-5,
            "{variant}: transformers' logits moved by {moved}"
        );
    } else {
        assert!(
            moved > 0.1,
            "{variant}: the overrides move logits by only {moved}"
        );
    }
    fixture
}

/// Rewrites the safetensors file `path` without the tensors `names` (which must be in it).
fn drop_tensors(path: &Path, names: &[&str]) {
    let bytes = std::fs::read(path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let data = &bytes[8 + header_len..];
    let mut kept = serde_json::Map::new();
    let mut out = Vec::new();
    for (name, info) in header.as_object().unwrap() {
        if names.contains(&name.as_str()) || name == "__metadata__" {
            if name == "__metadata__" {
                kept.insert(name.clone(), info.clone());
            }
            continue;
        }
        let offsets = info["data_offsets"].as_array().unwrap();
        let (begin, end) = (
            offsets[0].as_u64().unwrap() as usize,
            offsets[1].as_u64().unwrap() as usize,
        );
        let mut info = info.clone();
        info["data_offsets"] = serde_json::json!([out.len(), out.len() + end - begin]);
        out.extend_from_slice(&data[begin..end]);
        kept.insert(name.clone(), info);
    }
    for name in names {
        assert!(
            header.get(*name).is_some(),
            "{} has no tensor {name}",
            path.display()
        );
    }
    let mut header = serde_json::to_vec(&Value::Object(kept)).unwrap();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&header);
    file.extend_from_slice(&out);
    std::fs::write(path, file).unwrap();
}

/// The JSON value in the file `path`.
pub fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The text model's `model_type` of the checkpoint in `dir` (`text_config.model_type` of a
/// multimodal config), or `None` when `dir` has no `config.json`.
pub fn fixture_arch(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let config: Value = serde_json::from_str(&text).ok()?;
    let config = match config.get("text_config") {
        Some(t) if t.is_object() => t.clone(),
        _ => config,
    };
    config["model_type"].as_str().map(str::to_string)
}

/// Every fixture directory of `fixtures/{group}` whose architecture floe implements, by name.
pub fn supported_fixtures(group: &str) -> Vec<String> {
    let root = fixtures_root().join(group);
    let supported = floe_model::supported_architectures();
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("listing {}: {e}", root.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|dir| fixture_arch(dir).is_some_and(|arch| supported.contains(&arch.as_str())))
        .map(|dir| dir.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Converts `src` into a floe checkpoint at `out`.
pub fn convert_to(src: &Path, out: &Path, options: &ConvertOptions) -> Arc<Checkpoint> {
    convert(src, out, options, &mut |_| {})
        .unwrap_or_else(|e| panic!("converting {}: {e}", src.display()));
    Arc::new(Checkpoint::open(out).unwrap())
}

/// Loads `checkpoint` on `backend`, experts read with `pread`.
pub fn load_on<B: Backend + 'static>(
    checkpoint: Arc<Checkpoint>,
    backend: Arc<B>,
    options: &LoadOptions,
) -> Box<dyn Model<B>> {
    let source: Arc<dyn ExpertSource> = Arc::new(PreadExpertSource::new(checkpoint.clone()));
    let dir = checkpoint.dir().to_path_buf();
    load_model_with(checkpoint, backend, source, options)
        .unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
}

/// Runs `tokens` in chunks of the given sizes (summing to the whole) through one state,
/// returning every position's logits.
pub fn run_chunks<B: Backend>(
    model: &dyn Model<B>,
    tokens: &[u32],
    chunks: &[usize],
) -> Vec<Vec<f32>> {
    assert_eq!(chunks.iter().sum::<usize>(), tokens.len());
    let mut state = model.new_state(tokens.len()).unwrap();
    let mut rows = Vec::new();
    let mut at = 0;
    for &n in chunks {
        let logits = model
            .forward(&tokens[at..at + n], &mut state, LogitsWanted::All)
            .unwrap();
        assert_eq!(logits.rows, n);
        rows.extend(logits.iter_rows().map(<[f32]>::to_vec));
        at += n;
    }
    assert_eq!(state.len(), tokens.len());
    rows
}

/// The ways a sequence of `t` tokens is split into forward passes, each with a name: one
/// prefill, token-by-token decode, and two mixed splits.
pub fn splits(t: usize) -> Vec<(&'static str, Vec<usize>)> {
    assert!(t > 9, "the mixed splits need more than 9 tokens");
    let mut prefill_then_decode = vec![7];
    prefill_then_decode.extend(std::iter::repeat_n(1, t - 7));
    vec![
        ("prefill", vec![t]),
        ("decode", vec![1; t]),
        ("prefill 7 then decode", prefill_then_decode),
        ("chunks 3+6+rest", vec![3, 6, t - 9]),
    ]
}

/// Largest magnitude of `row`.
pub fn max_abs(row: &[f32]) -> f32 {
    row.iter().fold(0f32, |m, x| m.max(x.abs()))
}

/// `max |a − b| / max |b|`.
pub fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
        / max_abs(b)
}

/// Index of the largest value.
pub fn argmax(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
}

/// The worst per-position relative error of `rows` against `reference`.
pub fn worst_relative_error(rows: &[Vec<f32>], reference: &[Vec<f32>]) -> f32 {
    assert_eq!(rows.len(), reference.len());
    rows.iter()
        .zip(reference)
        .map(|(row, r)| relative_error(row, r))
        .fold(0f32, f32::max)
}

/// Asserts that every position of `rows` is within `tolerance · max |reference|` of the
/// fixture's logits; prints the worst error.
pub fn assert_matches_reference(fixture: &Fixture, how: &str, rows: &[Vec<f32>], tolerance: f32) {
    assert_eq!(rows.len(), fixture.logits.len(), "{} ({how})", fixture.name);
    for (i, (row, reference)) in rows.iter().zip(&fixture.logits).enumerate() {
        let err = relative_error(row, reference);
        assert!(
            err <= tolerance,
            "{} ({how}): position {i}: max |Δ| / max |ref| = {err:.3e} > {tolerance:e}",
            fixture.name
        );
    }
    eprintln!(
        "{} ({how}): worst position max |Δ| / max |ref| = {:.2e}",
        fixture.name,
        worst_relative_error(rows, &fixture.logits)
    );
}

/// Runs the fixture's tokens through `model` in every one of [`splits`] and checks each
/// against the reference within `tolerance`.
pub fn assert_all_splits_match<B: Backend>(
    fixture: &Fixture,
    model: &dyn Model<B>,
    tolerance: f32,
) {
    assert_eq!(model.info().vocab_size, fixture.logits[0].len());
    for (how, chunks) in splits(fixture.tokens.len()) {
        let rows = run_chunks(model, &fixture.tokens, &chunks);
        assert_matches_reference(fixture, how, &rows, tolerance);
    }
}

/// The two ways routed experts reach the backend, named: streamed through the expert source per
/// forward pass (the default), and resident in backend memory, selected on the device.
pub fn expert_paths() -> [(&'static str, LoadOptions); 2] {
    [
        ("streamed", LoadOptions::default()),
        (
            "resident",
            LoadOptions {
                resident_experts: true,
                ..LoadOptions::default()
            },
        ),
    ]
}

/// Asserts that every position of `rows` is within `tolerance · max |reference|` of `other`
/// (another path's logits for the same tokens), with the fixture's reference logits as the
/// scale; prints the worst difference.
pub fn assert_paths_agree(
    fixture: &Fixture,
    how: &str,
    rows: &[Vec<f32>],
    other: &[Vec<f32>],
    tolerance: f32,
) {
    assert_eq!(rows.len(), other.len(), "{} ({how})", fixture.name);
    let mut worst = 0f32;
    for (i, ((row, o), reference)) in rows.iter().zip(other).zip(&fixture.logits).enumerate() {
        assert_eq!(row.len(), o.len());
        let diff = row
            .iter()
            .zip(o)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max)
            / max_abs(reference);
        assert!(
            diff <= tolerance,
            "{} ({how}): position {i}: max |Δ| / max |ref| = {diff:.3e} > {tolerance:e}",
            fixture.name
        );
        worst = worst.max(diff);
    }
    eprintln!(
        "{} ({how}): worst position max |Δ| / max |ref| = {worst:.2e}",
        fixture.name
    );
}

/// [`assert_all_splits_match`] for both models (`streamed` and `resident`), and every split's
/// resident logits within `agreement · max |reference|` of the streamed ones.
pub fn assert_resident_matches_streamed<B: Backend>(
    fixture: &Fixture,
    streamed: &dyn Model<B>,
    resident: &dyn Model<B>,
    tolerance: f32,
    agreement: f32,
) {
    assert_eq!(resident.info().vocab_size, fixture.logits[0].len());
    for (how, chunks) in splits(fixture.tokens.len()) {
        let s = run_chunks(streamed, &fixture.tokens, &chunks);
        let r = run_chunks(resident, &fixture.tokens, &chunks);
        assert_matches_reference(fixture, &format!("streamed, {how}"), &s, tolerance);
        assert_matches_reference(fixture, &format!("resident, {how}"), &r, tolerance);
        assert_paths_agree(
            fixture,
            &format!("resident vs streamed, {how}"),
            &r,
            &s,
            agreement,
        );
    }
}
