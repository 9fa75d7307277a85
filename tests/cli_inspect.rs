//! `floe inspect`: the text summary, the JSON description (every expert blob 4096-aligned and
//! contiguous), and a clear error for a damaged checkpoint.

use std::path::{Path, PathBuf};
use std::process::Command;

fn floe(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_floe"))
        .args(args)
        .output()
        .expect("floe runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "floe panicked: {stderr}");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    )
}

fn converted(tmp: &Path, fixture: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(fixture);
    let out = tmp.join(fixture.replace('/', "_"));
    let (ok, _, stderr) = floe(&["convert".as_ref(), src.as_os_str(), out.as_os_str()]);
    assert!(ok, "{stderr}");
    out
}

#[test]
fn json_lists_every_blob_aligned_and_contiguous() {
    let tmp = tempfile::tempdir().unwrap();
    for fixture in [
        "hf/qwen3_moe_a",
        "hf/qwen3_5_moe",
        "hf/mixtral",
        "mlx-models/olmoe-q4",
    ] {
        let dir = converted(tmp.path(), fixture);
        let (ok, stdout, stderr) = floe(&["inspect".as_ref(), dir.as_os_str(), "--json".as_ref()]);
        assert!(ok, "{stderr}");
        let info: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert!(info["arch"].is_string());
        let moe_layers = info["moe_layers"].as_array().unwrap();
        assert!(!moe_layers.is_empty());
        let experts = info["experts"].as_array().unwrap();
        let k = info["num_experts_per_tok"].as_u64().unwrap();
        let mut blob_sum = 0;
        for layer in moe_layers {
            let layer = layer.as_u64().unwrap();
            let blobs: Vec<&serde_json::Value> =
                experts.iter().filter(|e| e["layer"] == layer).collect();
            assert!(!blobs.is_empty());
            let file = dir.join(blobs[0]["file"].as_str().unwrap());
            let length = blobs[0]["length"].as_u64().unwrap();
            let stride = length.div_ceil(4096) * 4096;
            for (i, blob) in blobs.iter().enumerate() {
                assert_eq!(blob["expert"].as_u64().unwrap(), i as u64);
                assert_eq!(dir.join(blob["file"].as_str().unwrap()), file);
                assert_eq!(blob["length"].as_u64().unwrap(), length);
                let offset = blob["offset"].as_u64().unwrap();
                assert_eq!(offset % 4096, 0, "{fixture}: layer {layer} expert {i}");
                assert_eq!(
                    offset,
                    4096 + i as u64 * stride,
                    "{fixture}: blobs are not contiguous"
                );
            }
            assert_eq!(
                std::fs::metadata(&file).unwrap().len(),
                4096 + blobs.len() as u64 * stride
            );
            blob_sum += length;
        }
        assert_eq!(info["bytes_per_token"].as_u64().unwrap(), k * blob_sum);
    }
}

#[test]
fn text_summary_and_verification() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = converted(tmp.path(), "hf/olmoe");
    let (ok, stdout, stderr) = floe(&["inspect".as_ref(), dir.as_os_str(), "--verify".as_ref()]);
    assert!(ok, "{stderr}");
    for needle in ["arch         olmoe", "K = 2", "per token", "verified"] {
        assert!(stdout.contains(needle), "{needle:?} not in {stdout}");
    }

    // Damage one expert blob: --verify names it; a truncated file fails on open.
    let file = dir.join("experts-001.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[4096 + 10] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let (ok, _, stderr) = floe(&["inspect".as_ref(), dir.as_os_str(), "--verify".as_ref()]);
    assert!(!ok);
    assert!(
        stderr.contains("expert 0 of layer 1 fails its checksum"),
        "{stderr}"
    );
    bytes.truncate(bytes.len() - 4096);
    std::fs::write(&file, &bytes).unwrap();
    let (ok, _, stderr) = floe(&["inspect".as_ref(), dir.as_os_str()]);
    assert!(!ok);
    assert!(stderr.contains("experts-001.bin: file is"), "{stderr}");
    let (ok, _, stderr) = floe(&["inspect".as_ref(), tmp.path().join("nowhere").as_os_str()]);
    assert!(!ok);
    assert!(stderr.contains("manifest.json"), "{stderr}");
}
