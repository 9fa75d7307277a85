//! Comparing a regenerated fixture tree with the committed one (`cargo xtask fixtures --check`).
//!
//! * `reference.json`: tokens must be equal and every logit must satisfy
//!   `|new - old| <= rtol * max(|new|, |old|, 1)`; otherwise the check fails.
//! * `*.safetensors`: tensor names, dtypes, shapes and bytes must be equal (the free-form
//!   `__metadata__`, which records library versions, is ignored); otherwise the check fails.
//! * every other file: byte differences are reported as warnings (e.g. a new `transformers`
//!   version writing an extra config key), not failures.
//! * a file present on one side only fails the check.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use safetensors::SafeTensors;
use serde::Deserialize;

/// The part of reference.json the check compares (other keys are informational).
#[derive(Deserialize)]
pub struct Reference {
    /// Input token ids of the forward pass.
    pub tokens: Vec<u32>,
    /// One row of vocabulary logits per position.
    pub logits: Vec<Vec<f32>>,
    /// Precision the logits were computed in.
    pub dtype: String,
}

/// Result of comparing one file.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Equal (within tolerance for reference logits; `worst` is the largest relative difference).
    Same {
        /// Largest `|new - old| / max(|new|, |old|, 1)` over the logits, 0 for other files.
        worst: f64,
    },
    /// The committed fixture is stale.
    Failure(String),
    /// A difference that does not affect test results.
    Warning(String),
}

/// Everything a check found, per file.
#[derive(Default)]
pub struct Report {
    entries: Vec<(String, Outcome)>,
}

impl Report {
    /// Appends another tree's report, prefixing its paths with `fixtures/<tree>/`.
    pub fn extend(&mut self, tree: &str, other: Report) {
        for (path, outcome) in other.entries {
            self.entries
                .push((format!("fixtures/{tree}/{path}"), outcome));
        }
    }

    /// True when nothing failed.
    pub fn passed(&self) -> bool {
        !self
            .entries
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Failure(_)))
    }

    /// Prints one line per reference / failure / warning and a summary.
    pub fn print(&self) {
        let mut failures = 0;
        let mut warnings = 0;
        let mut same = 0;
        for (path, outcome) in &self.entries {
            match outcome {
                Outcome::Same { worst }
                    if path == "reference.json" || path.ends_with("/reference.json") =>
                {
                    same += 1;
                    println!("ok       {path} (max relative logit difference {worst:.1e})");
                }
                Outcome::Same { .. } => same += 1,
                Outcome::Failure(why) => {
                    failures += 1;
                    println!("MISMATCH {path}: {why}");
                }
                Outcome::Warning(why) => {
                    warnings += 1;
                    println!("warning  {path}: {why}");
                }
            }
        }
        println!("{same} file(s) match, {warnings} warning(s), {failures} mismatch(es)");
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Same { worst } => write!(f, "same (worst {worst:.1e})"),
            Outcome::Failure(why) => write!(f, "failure: {why}"),
            Outcome::Warning(why) => write!(f, "warning: {why}"),
        }
    }
}

/// Compares every file below `committed` with the same path below `regenerated`.
pub fn compare_trees(committed: &Path, regenerated: &Path, rtol: f64) -> Result<Report> {
    let old = list_files(committed)?;
    let new = list_files(regenerated)?;
    let mut report = Report::default();
    for path in old.union(&new) {
        let name = path.to_string_lossy().into_owned();
        let outcome = match (old.contains(path), new.contains(path)) {
            (true, false) => {
                Outcome::Failure("committed, but the script no longer writes it".into())
            }
            (false, true) => Outcome::Failure("written by the script, but not committed".into()),
            _ => compare_file(&committed.join(path), &regenerated.join(path), rtol)?,
        };
        report.entries.push((name, outcome));
    }
    Ok(report)
}

/// Compares one file pair according to its kind (see the module documentation).
pub fn compare_file(committed: &Path, regenerated: &Path, rtol: f64) -> Result<Outcome> {
    let old =
        std::fs::read(committed).with_context(|| format!("cannot read {}", committed.display()))?;
    let new = std::fs::read(regenerated)
        .with_context(|| format!("cannot read {}", regenerated.display()))?;
    let file_name = committed
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if file_name == "reference.json" {
        return Ok(compare_reference(&old, &new, rtol));
    }
    if file_name.ends_with(".safetensors") {
        return Ok(compare_safetensors(&old, &new));
    }
    Ok(if old == new {
        Outcome::Same { worst: 0.0 }
    } else {
        Outcome::Warning("contents changed".into())
    })
}

/// Compares two reference.json documents.
pub fn compare_reference(committed: &[u8], regenerated: &[u8], rtol: f64) -> Outcome {
    let old: Reference = match serde_json::from_slice(committed) {
        Ok(r) => r,
        Err(e) => return Outcome::Failure(format!("committed reference.json is not valid: {e}")),
    };
    let new: Reference = match serde_json::from_slice(regenerated) {
        Ok(r) => r,
        Err(e) => return Outcome::Failure(format!("regenerated reference.json is not valid: {e}")),
    };
    if old.tokens != new.tokens {
        return Outcome::Failure(format!(
            "tokens changed from {:?} to {:?}",
            old.tokens, new.tokens
        ));
    }
    if old.dtype != new.dtype {
        return Outcome::Failure(format!("dtype changed from {} to {}", old.dtype, new.dtype));
    }
    if old.logits.len() != new.logits.len() {
        return Outcome::Failure(format!(
            "{} logit rows, now {}",
            old.logits.len(),
            new.logits.len()
        ));
    }
    let mut worst = 0.0_f64;
    let mut first_bad = None;
    for (position, (a, b)) in old.logits.iter().zip(&new.logits).enumerate() {
        if a.len() != b.len() {
            return Outcome::Failure(format!(
                "row {position} has {} logits, now {}",
                a.len(),
                b.len()
            ));
        }
        for (index, (&x, &y)) in a.iter().zip(b).enumerate() {
            let (x, y) = (f64::from(x), f64::from(y));
            let relative = (x - y).abs() / x.abs().max(y.abs()).max(1.0);
            if !relative.is_finite() {
                return Outcome::Failure(format!(
                    "non-finite logit at row {position}, index {index}"
                ));
            }
            if relative > rtol && first_bad.is_none() {
                first_bad = Some(format!("row {position}, index {index}: {x} -> {y}"));
            }
            worst = worst.max(relative);
        }
    }
    match first_bad {
        Some(at) => Outcome::Failure(format!(
            "logits moved by up to {worst:.2e} relative (> {rtol:.1e}); first at {at}"
        )),
        None => Outcome::Same { worst },
    }
}

/// Compares the tensors (names, dtypes, shapes, bytes) of two safetensors files.
pub fn compare_safetensors(committed: &[u8], regenerated: &[u8]) -> Outcome {
    let old = match SafeTensors::deserialize(committed) {
        Ok(t) => t,
        Err(e) => return Outcome::Failure(format!("committed file is not valid safetensors: {e}")),
    };
    let new = match SafeTensors::deserialize(regenerated) {
        Ok(t) => t,
        Err(e) => {
            return Outcome::Failure(format!("regenerated file is not valid safetensors: {e}"))
        }
    };
    let old_names: BTreeSet<&str> = old.names().into_iter().collect();
    let new_names: BTreeSet<&str> = new.names().into_iter().collect();
    if old_names != new_names {
        let gone: Vec<_> = old_names.difference(&new_names).collect();
        let added: Vec<_> = new_names.difference(&old_names).collect();
        return Outcome::Failure(format!(
            "tensor names changed: removed {gone:?}, added {added:?}"
        ));
    }
    for name in old_names {
        let (Ok(a), Ok(b)) = (old.tensor(name), new.tensor(name)) else {
            return Outcome::Failure(format!("tensor {name} cannot be read"));
        };
        if a.dtype() != b.dtype() || a.shape() != b.shape() {
            return Outcome::Failure(format!(
                "tensor {name} changed from {:?} {:?} to {:?} {:?}",
                a.dtype(),
                a.shape(),
                b.dtype(),
                b.shape()
            ));
        }
        if a.data() != b.data() {
            return Outcome::Failure(format!("tensor {name} has different values"));
        }
    }
    Outcome::Same { worst: 0.0 }
}

/// Relative paths of all regular files below `root` (hidden entries and `__pycache__` skipped).
fn list_files(root: &Path) -> Result<BTreeSet<PathBuf>> {
    let mut files = BTreeSet::new();
    if !root.is_dir() {
        return Ok(files);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "__pycache__" {
                continue;
            }
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .expect("listed below root")
                    .to_path_buf();
                files.insert(relative);
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::{serialize, tensor::TensorView, Dtype};

    fn reference(tokens: &[u32], logits: &[&[f32]]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "tokens": tokens,
            "logits": logits,
            "dtype": "float32",
            "notes": "test",
            "extra": {"ignored": true},
        }))
        .unwrap()
    }

    fn safetensors_file(name: &str, values: &[f32], metadata: &str) -> Vec<u8> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F32, vec![values.len()], &bytes).unwrap();
        let meta = std::collections::HashMap::from([("version".to_string(), metadata.to_string())]);
        serialize([(name, view)], Some(meta)).unwrap()
    }

    #[test]
    fn reference_within_relative_tolerance_matches() {
        let old = reference(&[1, 2], &[&[10.0, -0.5], &[3.0, 0.0]]);
        let new = reference(&[1, 2], &[&[10.000_05, -0.5], &[3.0, 0.000_000_5]]);
        let Outcome::Same { worst } = compare_reference(&old, &new, 1e-5) else {
            panic!("expected a match");
        };
        assert!(worst > 0.0 && worst <= 1e-5, "worst {worst}");
    }

    #[test]
    fn reference_beyond_tolerance_fails_and_names_position() {
        let old = reference(&[1], &[&[10.0, 2.0]]);
        let new = reference(&[1], &[&[10.0, 2.001]]);
        match compare_reference(&old, &new, 1e-6) {
            Outcome::Failure(why) => assert!(why.contains("row 0, index 1"), "{why}"),
            other => panic!("expected failure, got {other}"),
        }
    }

    #[test]
    fn reference_small_logits_use_absolute_floor() {
        // 1e-7 apart near zero: relative to max(|x|, 1) that is 1e-7, within 1e-6.
        let old = reference(&[1], &[&[1e-7]]);
        let new = reference(&[1], &[&[2e-7]]);
        assert!(matches!(
            compare_reference(&old, &new, 1e-6),
            Outcome::Same { .. }
        ));
    }

    #[test]
    fn reference_token_or_shape_changes_fail() {
        let old = reference(&[1, 2], &[&[1.0], &[2.0]]);
        for new in [
            reference(&[1, 3], &[&[1.0], &[2.0]]),
            reference(&[1, 2], &[&[1.0]]),
            reference(&[1, 2], &[&[1.0], &[2.0, 3.0]]),
        ] {
            assert!(matches!(
                compare_reference(&old, &new, 1e-6),
                Outcome::Failure(_)
            ));
        }
        assert!(matches!(
            compare_reference(b"{}", &old, 1e-6),
            Outcome::Failure(_)
        ));
    }

    #[test]
    fn safetensors_ignores_metadata_but_not_values() {
        let old = safetensors_file("w", &[1.0, 2.0], "a");
        assert_eq!(
            compare_safetensors(&old, &safetensors_file("w", &[1.0, 2.0], "b")),
            Outcome::Same { worst: 0.0 }
        );
        assert!(matches!(
            compare_safetensors(&old, &safetensors_file("w", &[1.0, 2.5], "a")),
            Outcome::Failure(_)
        ));
        assert!(matches!(
            compare_safetensors(&old, &safetensors_file("v", &[1.0, 2.0], "a")),
            Outcome::Failure(_)
        ));
        assert!(matches!(
            compare_safetensors(&old, b"junk"),
            Outcome::Failure(_)
        ));
    }

    #[test]
    fn trees_report_missing_extra_and_changed_files() {
        let committed = tempfile::tempdir().unwrap();
        let regenerated = tempfile::tempdir().unwrap();
        let write = |root: &Path, path: &str, bytes: &[u8]| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        };
        let logits = reference(&[5], &[&[1.0]]);
        for root in [committed.path(), regenerated.path()] {
            write(root, "m/reference.json", &logits);
        }
        write(committed.path(), "m/config.json", b"{}");
        write(regenerated.path(), "m/config.json", b"{\"new\": 1}");
        write(committed.path(), "m/old.txt", b"x");
        write(regenerated.path(), "m/new.txt", b"y");
        write(regenerated.path(), "m/.tmp/ignored", b"z");

        let report = compare_trees(committed.path(), regenerated.path(), 1e-6).unwrap();
        assert!(!report.passed());
        let outcome = |name: &str| {
            let (_, outcome) = report.entries.iter().find(|(p, _)| p == name).unwrap();
            outcome
        };
        assert!(matches!(outcome("m/reference.json"), Outcome::Same { .. }));
        assert!(matches!(outcome("m/config.json"), Outcome::Warning(_)));
        assert!(matches!(outcome("m/old.txt"), Outcome::Failure(_)));
        assert!(matches!(outcome("m/new.txt"), Outcome::Failure(_)));
        assert_eq!(report.entries.len(), 4);
    }
}
