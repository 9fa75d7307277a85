//! Writer → reader round trips, and checkpoints whose files disagree with their manifest.

mod common;

use std::fs;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use floe_format::manifest::Manifest;
use floe_format::{
    Checkpoint, CheckpointWriter, ExpertSource, FormatError, OpenOptions, PreadExpertSource,
};
use floe_quant::QuantFormat;

#[test]
fn written_checkpoint_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let out = write_small_checkpoint(tmp.path(), "model");
    assert!(!tmp.path().join("model.partial").exists());
    let ckpt = Checkpoint::open(&out).unwrap();
    assert_eq!(ckpt.arch(), "qwen3_moe");
    assert_eq!(ckpt.config()["hidden_size"], HIDDEN);
    assert!(ckpt.verifies_checksums());

    let embed = ckpt.dense("model.embed_tokens.weight").unwrap();
    assert_eq!(embed.shape, vec![16, HIDDEN]);
    assert_eq!(embed.format, QuantFormat::F32);
    assert_eq!(&embed.bytes[..], &f32_bytes(&values(1, 16 * HIDDEN))[..]);
    let conv = ckpt
        .dense("model.layers.1.linear_attn.conv1d.weight")
        .unwrap();
    assert_eq!(conv.shape, vec![8, 1, 4]);
    assert_eq!(&conv.bytes[..], &f32_bytes(&values(3, 32))[..]);
    assert!(ckpt.has_dense("model.norm.weight"));
    assert!(!ckpt.has_dense("lm_head.weight"));
    assert!(matches!(
        ckpt.dense("lm_head.weight"),
        Err(FormatError::NotFound(_))
    ));
    for tensor in &ckpt.manifest().dense {
        assert_eq!(tensor.offset % 4096, 0, "{}", tensor.name);
    }

    let tokenizer = ckpt.extra_file("tokenizer.json").unwrap();
    assert_eq!(fs::read(tokenizer).unwrap(), b"{\"fake\": true}");
    // config.json is written from the config when the caller gave none.
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(ckpt.extra_file("config.json").unwrap()).unwrap())
            .unwrap();
    assert_eq!(&config, ckpt.config());
    assert!(ckpt.extra_file("chat_template.jinja").is_none());

    assert!(ckpt.expert_layer(1).is_none());
    let layer = ckpt.expert_layer(2).unwrap();
    assert_eq!(layer.blobs.len(), EXPERTS as usize);
    let part_len = (INTER * HIDDEN * 4) as u64;
    assert_eq!(layer.blob_length, 3 * part_len);
    let source = PreadExpertSource::new(Arc::new(ckpt));
    let ckpt = source.checkpoint().clone();
    let experts = [3, 0, 2];
    let mut seen = Vec::new();
    source
        .fetch(2, &experts, &mut |i, blob: Bytes| {
            let expert = experts[i];
            let parts = ckpt.split_blob(2, &blob)?;
            let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["gate", "up", "down"]);
            for (p, (_, view)) in parts.iter().enumerate() {
                assert_eq!(
                    &view.bytes[..],
                    &part_bytes(2, expert, p, view.rows, view.cols)[..]
                );
            }
            assert_eq!((parts[2].1.rows, parts[2].1.cols), (HIDDEN, INTER));
            seen.push(expert);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, experts);
    let location = ckpt.blob_location(0, 1).unwrap();
    assert_eq!(location.offset, 4096 + 3 * part_len);
    assert_eq!(location.length, 3 * part_len);
    assert!(matches!(
        ckpt.blob_location(0, 4),
        Err(FormatError::NotFound(_))
    ));
    assert!(matches!(
        ckpt.blob_location(1, 0),
        Err(FormatError::NotFound(_))
    ));
}

/// The three planes of a `[rows, 128]` q4 matrix (values 64 B, scales 4 B, biases 4 B a row),
/// filled with distinct bytes.
fn q4_planes(rows: usize, seed: u8) -> [Vec<u8>; 3] {
    [
        (0..rows * 64)
            .map(|i| (i as u8).wrapping_add(seed))
            .collect(),
        (0..rows * 4)
            .map(|i| (i as u8).wrapping_add(100).wrapping_add(seed))
            .collect(),
        (0..rows * 4)
            .map(|i| (i as u8).wrapping_add(200).wrapping_add(seed))
            .collect(),
    ]
}

/// Rows `first..first + n` of `planes` as one chunk: each plane's rows, one plane after the other.
fn q4_chunk(planes: &[Vec<u8>; 3], first: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (plane, per_row) in planes.iter().zip([64, 4, 4]) {
        out.extend_from_slice(&plane[first * per_row..(first + n) * per_row]);
    }
    out
}

#[test]
fn affine_rows_are_placed_plane_by_plane() {
    let tmp = tempfile::tempdir().unwrap();
    let dense = q4_planes(4, 0);
    let gate = q4_planes(64, 1);
    let up = q4_planes(64, 2).concat();
    // down is [128, 64] in q4: 32 B of values and 2 + 2 B of scales and biases a row.
    let down: Vec<u8> = (0..128 * 36).map(|i| (i % 251) as u8).collect();
    let out = tmp.path().join("q");

    let mut writer =
        CheckpointWriter::create(&out, "qwen3_moe", serde_json::json!({}), false).unwrap();
    let mut tensor = writer.begin_dense("w", &[4, 128], QuantFormat::Q4).unwrap();
    tensor.write_rows(1, &q4_chunk(&dense, 0, 1)).unwrap();
    tensor.write_rows(3, &q4_chunk(&dense, 1, 3)).unwrap();
    tensor.finish().unwrap();
    let parts = floe_format::ExpertPartSpec::swiglu(64, 128, QuantFormat::Q4);
    writer.begin_expert_layer(0, 2, &parts).unwrap();
    // Expert 0 by row chunks (gate), raw bytes (up, down).
    let mut blob = writer.begin_expert(0, 0).unwrap();
    blob.write_part_rows("gate", 10, &q4_chunk(&gate, 0, 10))
        .unwrap();
    blob.write_part_rows("gate", 54, &q4_chunk(&gate, 10, 54))
        .unwrap();
    blob.write_part_bytes("up", &up).unwrap();
    blob.write_part_bytes("down", &down[..1000]).unwrap();
    blob.write_part_bytes("down", &down[1000..]).unwrap();
    blob.finish().unwrap();
    // Expert 1 whole, from the same parts.
    writer
        .write_expert_parts(0, 1, &[&gate.concat(), &up, &down])
        .unwrap();
    let out = writer.finish(serde_json::Value::Null).unwrap();

    let ckpt = Checkpoint::open(&out).unwrap();
    assert_eq!(&ckpt.dense("w").unwrap().bytes[..], &dense.concat()[..]);
    let source = PreadExpertSource::new(Arc::new(ckpt));
    for expert in 0..2 {
        let blob = source.read_blob(0, expert).unwrap();
        let parts = source.checkpoint().split_blob(0, &blob).unwrap();
        assert_eq!(&parts[0].1.bytes[..], &gate.concat()[..]);
        assert_eq!(&parts[1].1.bytes[..], &up[..]);
        assert_eq!(&parts[2].1.bytes[..], &down[..]);
        assert_eq!(parts[2].1.format, QuantFormat::Q4);
    }
}

#[test]
fn dropped_part_writer_blocks_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("q");
    let mut writer =
        CheckpointWriter::create(&out, "qwen3_moe", serde_json::json!({}), false).unwrap();
    writer
        .begin_expert_layer(
            0,
            1,
            &floe_format::ExpertPartSpec::swiglu(8, 8, QuantFormat::F32),
        )
        .unwrap();
    let mut blob = writer.begin_expert(0, 0).unwrap();
    blob.write_part_bytes("gate", &[0; 256]).unwrap();
    drop(blob);
    let err = writer.finish(serde_json::Value::Null).unwrap_err();
    assert!(
        err.to_string().contains("expert 0 of layer 0 was begun"),
        "{err}"
    );
    assert!(!tmp.path().join("q").exists() && !tmp.path().join("q.partial").exists());
}

#[test]
fn writer_refuses_an_existing_output_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let out = write_small_checkpoint(tmp.path(), "model");
    let old_id = Checkpoint::open(&out)
        .unwrap()
        .manifest()
        .checkpoint_id
        .clone();
    let err = CheckpointWriter::create(&out, "qwen3_moe", serde_json::json!({}), false)
        .err()
        .unwrap();
    assert!(matches!(err, FormatError::OutputExists { .. }), "{err}");

    let mut writer =
        CheckpointWriter::create(&out, "mixtral", serde_json::json!({}), true).unwrap();
    writer
        .write_dense("x", &[2], QuantFormat::F32, &[0; 8])
        .unwrap();
    // Until finish, the old checkpoint is untouched.
    assert_eq!(
        Checkpoint::open(&out).unwrap().manifest().checkpoint_id,
        old_id
    );
    writer.finish(serde_json::Value::Null).unwrap();
    let ckpt = Checkpoint::open(&out).unwrap();
    assert_eq!(ckpt.arch(), "mixtral");
    assert!(ckpt.expert_layer(0).is_none());
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("model")]);
}

#[test]
fn dropped_writer_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("model");
    let mut writer =
        CheckpointWriter::create(&out, "qwen3_moe", serde_json::json!({}), false).unwrap();
    writer
        .write_dense("x", &[2], QuantFormat::F32, &[0; 8])
        .unwrap();
    assert!(writer.partial_dir().exists());
    drop(writer);
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn writer_rejects_misuse_with_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("model");
    let mut writer =
        CheckpointWriter::create(&out, "qwen3_moe", serde_json::json!({}), false).unwrap();
    let err = writer
        .write_dense("x", &[2, 2], QuantFormat::F32, &[0; 8])
        .unwrap_err();
    assert!(err.to_string().contains("'x'"), "{err}");
    writer
        .write_dense("y", &[2], QuantFormat::F32, &[0; 8])
        .unwrap();
    let err = writer
        .write_dense("y", &[2], QuantFormat::F32, &[0; 8])
        .unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
    let err = writer
        .begin_dense("q", &[3, 100], QuantFormat::Q4)
        .err()
        .unwrap();
    assert!(err.to_string().contains("'q'"), "{err}");
    let err = writer.write_extra_file("manifest.json", b"{}").unwrap_err();
    assert!(err.to_string().contains("plain name"), "{err}");

    let parts = floe_format::ExpertPartSpec::swiglu(INTER, HIDDEN, QuantFormat::F32);
    let mut wrong = parts.clone();
    wrong[2].rows = 3;
    let err = writer.begin_expert_layer(0, 2, &wrong).unwrap_err();
    assert!(err.to_string().contains("do not fit"), "{err}");
    writer.begin_expert_layer(0, 2, &parts).unwrap();
    let blob_len = writer.expert_layer(0).unwrap().blob_length as usize;
    let err = writer
        .write_expert(0, 0, &vec![0; blob_len - 1])
        .unwrap_err();
    assert!(err.to_string().contains("expert 0 of layer 0"), "{err}");
    writer.write_expert(0, 0, &vec![1; blob_len]).unwrap();
    let err = writer.write_expert(0, 0, &vec![1; blob_len]).unwrap_err();
    assert!(err.to_string().contains("written twice"), "{err}");
    let err = writer.write_expert(0, 2, &vec![1; blob_len]).unwrap_err();
    assert!(err.to_string().contains("has 2 experts"), "{err}");
    let err = writer.write_expert(5, 0, &vec![1; blob_len]).unwrap_err();
    assert!(err.to_string().contains("not begun"), "{err}");
    let mut blob = writer.begin_expert(0, 1).unwrap();
    blob.write_part_bytes("gate", &vec![0; INTER * HIDDEN * 4])
        .unwrap();
    let err = blob.finish().unwrap_err();
    assert!(err.to_string().contains("part 'up'"), "{err}");
    let err = writer.finish(serde_json::Value::Null).unwrap_err();
    assert!(err.to_string().contains("expert 1 of layer 0"), "{err}");
}

/// Edits the manifest of `dir` with `edit`.
fn edit_manifest(dir: &std::path::Path, edit: impl FnOnce(&mut Manifest)) {
    let path = dir.join("manifest.json");
    let mut manifest: Manifest = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut manifest);
    fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

fn open_error(dir: &std::path::Path) -> String {
    match Checkpoint::open(dir) {
        Ok(_) => panic!("{} opened although it is damaged", dir.display()),
        Err(err) => err.to_string(),
    }
}

/// A way of damaging a checkpoint directory.
type Damage = Box<dyn Fn(&std::path::Path)>;

#[test]
fn manifest_disagreeing_with_files_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "truncated expert file",
            Box::new(|d| {
                let f = fs::OpenOptions::new()
                    .write(true)
                    .open(d.join("experts-002.bin"))
                    .unwrap();
                let len = f.metadata().unwrap().len();
                f.set_len(len - 1).unwrap();
            }),
            "experts-002.bin: file is",
        ),
        (
            "bad header magic",
            Box::new(|d| {
                let mut bytes = fs::read(d.join("dense.bin")).unwrap();
                bytes[0] = b'X';
                fs::write(d.join("dense.bin"), bytes).unwrap();
            }),
            "dense.bin: bad header magic",
        ),
        (
            "header id of another checkpoint",
            Box::new(|d| {
                let mut bytes = fs::read(d.join("experts-000.bin")).unwrap();
                bytes[20] ^= 0xff;
                fs::write(d.join("experts-000.bin"), bytes).unwrap();
            }),
            "belongs to another checkpoint",
        ),
        (
            "unaligned dense offset",
            Box::new(|d| edit_manifest(d, |m| m.dense[1].offset += 64)),
            "not a multiple of 4096",
        ),
        (
            "dense length",
            Box::new(|d| edit_manifest(d, |m| m.dense[0].length += 4)),
            "takes 4096 bytes",
        ),
        (
            "dense past the end",
            Box::new(|d| edit_manifest(d, |m| m.dense[2].offset += 4096)),
            "past the end of dense.bin",
        ),
        (
            "overlapping dense",
            Box::new(|d| edit_manifest(d, |m| m.dense[1].offset = m.dense[0].offset)),
            "overlap",
        ),
        (
            "blob offset",
            Box::new(|d| edit_manifest(d, |m| m.expert_layers[0].blobs[1].offset += 4096)),
            "expert 1: offset",
        ),
        (
            "part past blob",
            Box::new(|d| edit_manifest(d, |m| m.expert_layers[1].parts[2].offset += 64)),
            "past blob_length",
        ),
        (
            "file length in manifest",
            Box::new(|d| edit_manifest(d, |m| m.data_files[0].length += 4096)),
            "dense.bin: file is",
        ),
        (
            "missing data file",
            Box::new(|d| fs::remove_file(d.join("experts-000.bin")).unwrap()),
            "experts-000.bin: data file listed",
        ),
        (
            "wrong magic",
            Box::new(|d| edit_manifest(d, |m| m.magic = "gguf".into())),
            "not a floe checkpoint",
        ),
        (
            "wrong version",
            Box::new(|d| edit_manifest(d, |m| m.format_version = 9)),
            "format_version 9",
        ),
        (
            "malformed manifest",
            Box::new(|d| fs::write(d.join("manifest.json"), b"{\"magic\":").unwrap()),
            "malformed manifest",
        ),
        (
            "no manifest",
            Box::new(|d| fs::remove_file(d.join("manifest.json")).unwrap()),
            "cannot read the manifest",
        ),
        (
            "extra file changed",
            Box::new(|d| fs::write(d.join("tokenizer.json"), b"{\"fake\": 1234}").unwrap()),
            "tokenizer.json: checksum",
        ),
    ];
    for (i, (what, damage, expected)) in cases.iter().enumerate() {
        let dir = write_small_checkpoint(tmp.path(), &format!("m{i}"));
        damage(&dir);
        let err = open_error(&dir);
        assert!(
            err.contains(expected),
            "{what}: error {err:?} does not contain {expected:?}"
        );
    }
}

#[test]
fn corrupt_blob_fails_its_checksum_naming_layer_and_expert() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_small_checkpoint(tmp.path(), "model");
    let location = Checkpoint::open(&dir).unwrap().blob_location(2, 3).unwrap();
    let mut bytes = fs::read(&location.path).unwrap();
    bytes[location.offset as usize + 100] ^= 1;
    fs::write(&location.path, bytes).unwrap();

    let source = PreadExpertSource::new(Arc::new(Checkpoint::open(&dir).unwrap()));
    let mut delivered = Vec::new();
    let err = source.fetch(2, &[1, 3, 0], &mut |i, _| {
        delivered.push(i);
        Ok(())
    });
    let err = err.unwrap_err();
    assert!(
        matches!(
            err,
            FormatError::BlobChecksum {
                layer: 2,
                expert: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("expert 3 of layer 2"), "{err}");
    assert_eq!(delivered, vec![0]);

    let ckpt = source.checkpoint();
    let blob = source.read_blob(2, 1).unwrap();
    ckpt.verify_blob(2, 1, &blob).unwrap();
    let err = ckpt.verify_blob(2, 0, &blob).unwrap_err();
    assert!(err.to_string().contains("expert 0 of layer 2"), "{err}");
    let err = ckpt.verify_blob(2, 1, &blob[..10]).unwrap_err();
    assert!(err.to_string().contains("10 bytes given"), "{err}");

    // With verification off, the damaged blob is delivered as stored.
    let unverified = Checkpoint::open_with(
        &dir,
        OpenOptions {
            verify_checksums: false,
        },
    )
    .unwrap();
    let source = PreadExpertSource::new(Arc::new(unverified));
    source.fetch(2, &[3], &mut |_, _| Ok(())).unwrap();
}

#[test]
fn corrupt_dense_tensor_fails_its_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_small_checkpoint(tmp.path(), "model");
    let ckpt = Checkpoint::open(&dir).unwrap();
    let tensor = ckpt
        .manifest()
        .dense
        .iter()
        .find(|t| t.name == "model.norm.weight")
        .unwrap()
        .clone();
    drop(ckpt);
    let mut bytes = fs::read(dir.join("dense.bin")).unwrap();
    bytes[tensor.offset as usize + 5] ^= 0x40;
    fs::write(dir.join("dense.bin"), bytes).unwrap();
    let ckpt = Checkpoint::open(&dir).unwrap();
    ckpt.dense("model.embed_tokens.weight").unwrap();
    let err = ckpt.dense("model.norm.weight").unwrap_err();
    assert!(matches!(err, FormatError::TensorChecksum { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("dense.bin: tensor 'model.norm.weight' fails its checksum"),
        "{err}"
    );
    let ckpt = Checkpoint::open_with(
        &dir,
        OpenOptions {
            verify_checksums: false,
        },
    )
    .unwrap();
    ckpt.dense("model.norm.weight").unwrap();
}

mod chunked_quantized_writes {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Writing a matrix as row chunks of any sizes, each quantized on its own, stores exactly
        /// the bytes of quantizing the whole matrix at once, for every kind of format.
        #[test]
        fn row_chunks_store_the_whole_matrix(
            format_index in 0usize..5,
            rows in 1usize..24,
            cuts in proptest::collection::vec(1usize..8, 1..6),
            seed in any::<u32>(),
        ) {
            let format = [QuantFormat::F32, QuantFormat::Bf16, QuantFormat::Q8_0, QuantFormat::Q4, QuantFormat::Q2][format_index];
            let cols = 128;
            let values = values(seed, rows * cols);
            let whole = floe_quant::quantize(format, rows, cols, &values).unwrap();
            let tmp = tempfile::tempdir().unwrap();
            let mut writer = CheckpointWriter::create(&tmp.path().join("m"), "qwen3_moe", serde_json::json!({}), false).unwrap();
            let mut tensor = writer.begin_dense("w", &[rows, cols], format).unwrap();
            let mut row = 0;
            let mut cut = cuts.iter().cycle();
            while row < rows {
                let n = (*cut.next().unwrap()).min(rows - row);
                let chunk = floe_quant::quantize(format, n, cols, &values[row * cols..(row + n) * cols]).unwrap();
                tensor.write_rows(n, &chunk).unwrap();
                row += n;
            }
            tensor.finish().unwrap();
            let out = writer.finish(serde_json::Value::Null).unwrap();
            let ckpt = Checkpoint::open(&out).unwrap();
            prop_assert_eq!(&ckpt.dense("w").unwrap().bytes[..], &whole[..]);
        }
    }
}
