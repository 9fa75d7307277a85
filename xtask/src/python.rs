//! Locating a Python interpreter with the packages the fixture scripts need, and running them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Environment variable naming the Python interpreter (overridden by `--python`).
pub const PYTHON_ENV: &str = "FLOE_PYTHON";

/// Python packages every HF fixture run needs, as (import name, pip name).
pub const HF_MODULES: &[(&str, &str)] = &[
    ("numpy", "numpy"),
    ("torch", "torch"),
    ("transformers", "transformers"),
    ("tokenizers", "tokenizers"),
    ("safetensors", "safetensors"),
];

/// Python packages the MLX fixtures additionally need.
pub const MLX_MODULES: &[(&str, &str)] = &[("mlx.core", "mlx"), ("mlx_lm", "mlx-lm")];

/// A Python interpreter that has been checked to start.
pub struct Python {
    program: PathBuf,
}

impl Python {
    /// Picks `explicit`, else `$FLOE_PYTHON`, else `python3`, and checks that it runs.
    pub fn locate(explicit: Option<&Path>) -> Result<Self> {
        let program = explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(PYTHON_ENV).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("python3"));
        let output = Command::new(&program)
            .args(["-c", "import sys; print(sys.version.split()[0])"])
            .output()
            .with_context(|| {
                format!(
                    "cannot run Python interpreter `{}` (install Python 3, or pass --python / set {PYTHON_ENV})",
                    program.display()
                )
            })?;
        if !output.status.success() {
            bail!(
                "`{} -c 'import sys'` failed: {}",
                program.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(Self { program })
    }

    /// Fails with a list of the missing packages (and a pip command) unless all import.
    pub fn require_modules(&self, modules: &[(&str, &str)]) -> Result<()> {
        let mut missing = Vec::new();
        for (import, pip) in modules {
            let status = Command::new(&self.program)
                .args(["-c", &format!("import {import}")])
                .output()
                .with_context(|| format!("cannot run `{}`", self.program.display()))?;
            if !status.status.success() {
                missing.push(*pip);
            }
        }
        if !missing.is_empty() {
            bail!(
                "Python `{}` lacks the package(s) {}: install them with `{} -m pip install {}`",
                self.program.display(),
                missing.join(", "),
                self.program.display(),
                missing.join(" ")
            );
        }
        Ok(())
    }

    /// Runs `script` with `args`, streaming its output; fails when it exits non-zero.
    pub fn run_script(&self, script: &Path, args: &[&std::ffi::OsStr]) -> Result<()> {
        println!(
            "$ {} {}",
            self.program.display(),
            display_args(script, args)
        );
        let status = Command::new(&self.program)
            .arg(script)
            .args(args)
            .status()
            .with_context(|| format!("cannot run `{}`", self.program.display()))?;
        if !status.success() {
            bail!("`{}` failed ({status})", script.display());
        }
        Ok(())
    }
}

fn display_args(script: &Path, args: &[&std::ffi::OsStr]) -> String {
    std::iter::once(script.as_os_str())
        .chain(args.iter().copied())
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
