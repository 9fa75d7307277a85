//! `floe convert` end to end: fixtures convert; bad input gives a clear error and a non-zero
//! exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn floe(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_floe"))
        .args(args)
        .output()
        .expect("floe runs")
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

/// Runs `floe convert` and returns (success, stdout, stderr); checks that it never panicked.
fn convert(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let mut all: Vec<&std::ffi::OsStr> = vec!["convert".as_ref()];
    all.extend_from_slice(args);
    let output = floe(&all);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "floe panicked: {stderr}");
    (output.status.success(), stdout, stderr)
}

#[test]
fn converts_hf_and_mlx_fixtures() {
    let tmp = tempfile::tempdir().unwrap();
    for (source, extra) in [
        ("hf/qwen3_moe_c", vec![]),
        ("hf/mixtral", vec!["--quant", "q4", "--dense-quant", "q8"]),
        ("mlx-models/qwen3_next-q4", vec![]),
    ] {
        let out = tmp.path().join(source.replace('/', "_"));
        let src = fixture(source);
        let mut args: Vec<&std::ffi::OsStr> = vec![src.as_os_str(), out.as_os_str()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        let (ok, stdout, stderr) = convert(&args);
        assert!(ok, "{source}: {stderr}");
        assert!(
            stdout.contains("wrote") && stdout.contains("MoE layers"),
            "{stdout}"
        );
        assert!(out.join("manifest.json").is_file());
    }
}

#[test]
fn bad_input_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // A directory without a config.json.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (ok, _, stderr) = convert(&[empty.as_os_str(), out.as_os_str()]);
    assert!(!ok);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("config.json"),
        "{stderr}"
    );

    // An unsupported architecture.
    let llama = tmp.path().join("llama");
    std::fs::create_dir(&llama).unwrap();
    std::fs::write(llama.join("config.json"), br#"{"model_type": "llama"}"#).unwrap();
    let (ok, _, stderr) = convert(&[llama.as_os_str(), out.as_os_str()]);
    assert!(!ok);
    assert!(
        stderr.contains("unsupported architecture \"llama\"") && stderr.contains("qwen3_next"),
        "{stderr}"
    );

    // An unknown format name.
    let src = fixture("hf/olmoe");
    let (ok, _, stderr) = convert(&[
        src.as_os_str(),
        out.as_os_str(),
        "--quant".as_ref(),
        "q5".as_ref(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("unknown format 'q5'"), "{stderr}");

    // An existing output without --force, then with it.
    std::fs::create_dir(&out).unwrap();
    let (ok, _, stderr) = convert(&[src.as_os_str(), out.as_os_str()]);
    assert!(!ok);
    assert!(stderr.contains("already exists"), "{stderr}");
    let (ok, _, stderr) = convert(&[src.as_os_str(), out.as_os_str(), "--force".as_ref()]);
    assert!(ok, "{stderr}");
    assert!(out.join("manifest.json").is_file());
}
