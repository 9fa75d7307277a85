//! Tests of what is particular to the CPU backend (the operations themselves are checked by the
//! conformance suite in `tests/conformance_cpu.rs`).

use bytes::Bytes;
use floe_quant::QuantFormat;

use super::CpuBackend;
use crate::{Backend, ComputeError, WeightData};

#[test]
fn weights_keep_the_callers_bytes_without_copying() {
    let backend = CpuBackend::new(Some(1)).unwrap();
    let values: Vec<u8> = (0..4 * 3 * 8).map(|i| i as u8).collect();
    let bytes = Bytes::from(values);
    let slice = bytes.slice(4 * 8..);
    let w = backend
        .weight(WeightData {
            format: QuantFormat::F32,
            rows: 2,
            cols: 8,
            bytes: slice.clone(),
        })
        .unwrap();
    assert_eq!(w.bytes().as_ptr(), slice.as_ptr());
    assert_eq!(w.bytes().len(), 2 * 8 * 4);
}

#[test]
fn name_reports_simd_level_and_threads() {
    let backend = CpuBackend::new(Some(3)).unwrap();
    let name = backend.name();
    assert!(name.starts_with("cpu ("), "{name}");
    assert!(name.ends_with(", 3 threads)"), "{name}");
    assert_eq!(backend.threads(), 3);
    assert!(CpuBackend::new(None).unwrap().threads() >= 1);
}

#[test]
fn zero_threads_is_an_argument_error() {
    assert!(matches!(
        CpuBackend::new(Some(0)),
        Err(ComputeError::Argument { .. })
    ));
}

#[test]
fn weight_with_wrong_byte_count_names_format_and_shape() {
    let backend = CpuBackend::new(Some(1)).unwrap();
    let err = backend
        .weight(WeightData {
            format: QuantFormat::Bf16,
            rows: 3,
            cols: 4,
            bytes: Bytes::from(vec![0u8; 23]),
        })
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("weight")
            && message.contains("[3, 4] bf16")
            && message.contains("24 bytes"),
        "{message}"
    );
}
