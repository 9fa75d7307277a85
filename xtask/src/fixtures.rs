//! `cargo xtask fixtures [--check]`: runs the fixture scripts and, with `--check`, compares.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::compare::{compare_trees, Report};
use crate::python::{Python, HF_MODULES, MLX_MODULES};

/// What `cargo xtask fixtures` was asked to do.
pub struct Options {
    /// Compare against the committed fixtures instead of overwriting them.
    pub check: bool,
    /// Interpreter override.
    pub python: Option<PathBuf>,
    /// Also build the MLX fixtures.
    pub mlx: bool,
    /// Relative tolerance of reference logits in check mode.
    pub rtol: f64,
}

/// The fixture trees below `fixtures/`, the script producing each, and whether it needs MLX.
const TREES: &[(&str, &str, bool)] = &[
    ("hf", "make_hf_fixtures.py", false),
    ("mlx-models", "make_mlx_fixtures.py", true),
    ("mlx-quantize", "mlx_quantize_fixture.py", true),
];

/// Runs the task; `Ok(false)` means a check found differences.
pub fn run(options: &Options) -> Result<bool> {
    if !(options.rtol.is_finite() && options.rtol >= 0.0) {
        bail!(
            "--rtol must be a finite non-negative number, got {}",
            options.rtol
        );
    }
    let root = workspace_root()?;
    let scripts = root.join("xtask").join("fixtures");
    let python = Python::locate(options.python.as_deref())?;
    python.require_modules(HF_MODULES)?;
    if options.mlx {
        python.require_modules(MLX_MODULES).context(
            "the MLX fixtures need mlx and mlx-lm (pass --no-mlx to build only fixtures/hf)",
        )?;
    }

    let committed = root.join("fixtures");
    let scratch;
    let out_root = if options.check {
        scratch = tempfile::Builder::new()
            .prefix("floe-fixtures-check-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        scratch.path().to_path_buf()
    } else {
        committed.clone()
    };

    let mut built = Vec::new();
    for &(tree, script, needs_mlx) in TREES {
        if needs_mlx && !options.mlx {
            continue;
        }
        let script_path = scripts.join(script);
        if !script_path.is_file() {
            println!(
                "skipping fixtures/{tree}: {} does not exist",
                script_path.display()
            );
            continue;
        }
        let out = out_root.join(tree);
        let mut args: Vec<&OsStr> = vec![OsStr::new("--out"), out.as_os_str()];
        let hf_dir = out_root.join("hf");
        if tree == "mlx-models" {
            args.extend([OsStr::new("--hf"), hf_dir.as_os_str()]);
        }
        python.run_script(&script_path, &args)?;
        built.push(tree);
    }

    verify(&python, &scripts, &out_root, &built)?;

    if !options.check {
        println!(
            "regenerated {}",
            built
                .iter()
                .map(|t| format!("fixtures/{t}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(true);
    }
    let mut report = Report::default();
    for tree in &built {
        let part = compare_trees(&committed.join(tree), &out_root.join(tree), options.rtol)
            .with_context(|| format!("comparing fixtures/{tree}"))?;
        report.extend(tree, part);
    }
    report.print();
    Ok(report.passed())
}

/// Runs the independent numpy re-implementation (verify_fixtures.py) over every model directory
/// that was just written; fails when it does not reproduce a reference.json.
fn verify(python: &Python, scripts: &Path, out_root: &Path, built: &[&str]) -> Result<()> {
    let mut dirs = Vec::new();
    for tree in built.iter().filter(|t| **t == "hf" || **t == "mlx-models") {
        let root = out_root.join(tree);
        let entries =
            std::fs::read_dir(&root).with_context(|| format!("cannot list {}", root.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot list {}", root.display()))?
                .path();
            if path.join("reference.json").is_file() {
                dirs.push(path);
            }
        }
    }
    if dirs.is_empty() {
        return Ok(());
    }
    dirs.sort();
    let args: Vec<&OsStr> = dirs.iter().map(|d| d.as_os_str()).collect();
    python
        .run_script(&scripts.join("verify_fixtures.py"), &args)
        .context("the numpy re-implementation does not reproduce the reference logits")
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .with_context(|| format!("{} has no parent directory", manifest.display()))
}
