//! Cases of bad operands: each must be refused with [`ComputeError::Shape`] (or
//! [`ComputeError::Argument`] for a bad scalar) naming the operation, never a panic.

use bytes::Bytes;
use floe_quant::QuantFormat;

use super::upload;
use crate::conformance::compare::ok;
use crate::conformance::formats::random_weight;
use crate::conformance::Case;
use crate::{AttentionSpec, Backend, ComputeError, QkvPrologue, RopeSpec, WeightData};

/// Which error a bad call must return.
#[derive(Clone, Copy, PartialEq)]
enum Want {
    Shape,
    Argument,
}

#[track_caller]
fn refused<T>(case: &str, want: Want, op: &str, what: &str, result: Result<T, ComputeError>) {
    match result {
        Ok(_) => panic!("{case}: {op} accepted {what}"),
        Err(ComputeError::Shape { op: got, .. }) if want == Want::Shape && got == op => {}
        Err(ComputeError::Argument { op: got, .. }) if want == Want::Argument && got == op => {}
        Err(e) => panic!(
            "{case}: {op} refused {what} with the wrong error (wanted {} naming `{op}`): {e:?}",
            if want == Want::Shape {
                "ComputeError::Shape"
            } else {
                "ComputeError::Argument"
            }
        ),
    }
}

fn tensor<B: Backend>(backend: &B, case: &mut Case, rows: usize, cols: usize) -> B::Tensor {
    let values = case.values(rows * cols, -1.0, 1.0);
    upload(backend, case.name(), &values, rows, cols)
}

fn weight<B: Backend>(
    backend: &B,
    case: &mut Case,
    format: QuantFormat,
    rows: usize,
    cols: usize,
) -> B::Weight {
    let w = random_weight(case, format, rows, cols);
    ok(case.name(), "weight", backend.weight(w.data))
}

/// `upload`, `zeros`, `reshape`, `slice_cols`.
pub fn tensor_errors<B: Backend>(backend: &B, mut case: Case) {
    let name = case.name();
    refused(
        name,
        Want::Shape,
        "upload",
        "5 values as [2, 3]",
        backend.upload(&[0.0; 5], 2, 3),
    );
    refused(
        name,
        Want::Shape,
        "upload",
        "an empty [0, 3] tensor",
        backend.upload(&[], 0, 3),
    );
    refused(
        name,
        Want::Shape,
        "zeros",
        "an empty [4, 0] tensor",
        backend.zeros(4, 0),
    );
    refused(
        name,
        Want::Shape,
        "reshape",
        "[2, 3] as [4, 2]",
        backend.reshape(tensor(backend, &mut case, 2, 3), 4, 2),
    );
    let x = tensor(backend, &mut case, 2, 8);
    refused(
        name,
        Want::Shape,
        "slice_cols",
        "columns 6..10 of [2, 8]",
        backend.slice_cols(&x, 6, 4),
    );
    refused(
        name,
        Want::Shape,
        "slice_cols",
        "an empty column range",
        backend.slice_cols(&x, 3, 0),
    );
}

/// `weight`.
pub fn weight_errors<B: Backend>(backend: &B, mut case: Case) {
    let name = case.name();
    let good = random_weight(&mut case, QuantFormat::Q8_0, 2, 64).data;
    let short = WeightData {
        bytes: good.bytes.slice(1..),
        ..good.clone()
    };
    refused(
        name,
        Want::Shape,
        "weight",
        "a byte short",
        backend.weight(short),
    );
    let q4 = WeightData {
        format: QuantFormat::Q4,
        rows: 1,
        cols: 32,
        bytes: Bytes::from(vec![0u8; 24]),
    };
    refused(
        name,
        Want::Shape,
        "weight",
        "a q4 row of 32 values (groups of 64)",
        backend.weight(q4),
    );
    refused(
        name,
        Want::Shape,
        "weight",
        "zero rows",
        backend.weight(WeightData {
            rows: 0,
            bytes: Bytes::new(),
            ..good
        }),
    );
}

/// `embed`.
pub fn embed_errors<B: Backend>(backend: &B, mut case: Case) {
    let name = case.name();
    let table = weight(backend, &mut case, QuantFormat::F32, 10, 8);
    refused(
        name,
        Want::Shape,
        "embed",
        "id 10 of a 10-row table",
        backend.embed(&table, &[3, 10]),
    );
    refused(
        name,
        Want::Shape,
        "embed",
        "no ids",
        backend.embed(&table, &[]),
    );
}

/// `matmul`.
pub fn matmul_errors<B: Backend>(backend: &B, mut case: Case) {
    let name = case.name();
    let w = weight(backend, &mut case, QuantFormat::Q8_0, 4, 64);
    let x = tensor(backend, &mut case, 3, 32);
    refused(
        name,
        Want::Shape,
        "matmul",
        "[3, 32] by a [4, 64] weight",
        backend.matmul(&x, &w),
    );
}

/// `rms_norm`.
pub fn rms_norm_errors<B: Backend>(backend: &B, mut case: Case) {
    let name = case.name();
    let x = tensor(backend, &mut case, 2, 16);
    let long = weight(backend, &mut case, QuantFormat::F32, 1, 17);
    let tall = weight(backend, &mut case, QuantFormat::F32, 2, 16);
    let good = weight(backend, &mut case, QuantFormat::F32, 1, 16);
    refused(
        name,
        Want::Shape,
        "rms_norm",
        "a [1, 17] weight for 16 columns",
        backend.rms_norm(&x, &long, 1e-6, 0.0),
    );
    refused(
        name,
        Want::Shape,
        "rms_norm",
        "a [2, 16] weight",
        backend.rms_norm(&x, &tall, 1e-6, 0.0),
    );
    refused(
        name,
        Want::Argument,
        "rms_norm",
        "eps = -1",
        backend.rms_norm(&x, &good, -1.0, 0.0),
    );
    refused(
        name,
        Want::Argument,
        "rms_norm",
        "eps = NaN",
        backend.rms_norm(&x, &good, f32::NAN, 0.0),
    );
    let narrow = tensor(backend, &mut case, 2, 8);
    refused(
        name,
        Want::Shape,
        "add_rms_norm",
        "a [2, 8] delta for a [2, 16] x",
        backend.add_rms_norm(&x, &narrow, &good, 1e-6, 0.0),
    );
    refused(
        name,
        Want::Shape,
        "add_rms_norm",
        "a [1, 17] weight for 16 columns",
        backend.add_rms_norm(&x, &x, &long, 1e-6, 0.0),
    );
    refused(
        name,
        Want::Argument,
        "add_rms_norm",
        "eps = -1",
        backend.add_rms_norm(&x, &x, &good, -1.0, 0.0),
    );
}

/// `rope`.
pub fn rope_errors<B: Backend>(backend: &B, mut case: Case) {
    let name = case.name();
    let x = tensor(backend, &mut case, 2, 32);
    let spec = RopeSpec {
        head_dim: 16,
        rotary_dim: 16,
        theta: 10000.0,
        interleaved: false,
    };
    refused(
        name,
        Want::Shape,
        "rope",
        "3 positions for 2 rows",
        backend.rope(&x, &[0, 1, 2], &spec),
    );
    let bad = |change: fn(&mut RopeSpec)| {
        let mut s = spec;
        change(&mut s);
        s
    };
    refused(
        name,
        Want::Shape,
        "rope",
        "head_dim 12 (32 columns)",
        backend.rope(&x, &[0, 1], &bad(|s| s.head_dim = 12)),
    );
    refused(
        name,
        Want::Shape,
        "rope",
        "an odd rotary_dim",
        backend.rope(&x, &[0, 1], &bad(|s| s.rotary_dim = 7)),
    );
    refused(
        name,
        Want::Shape,
        "rope",
        "rotary_dim > head_dim",
        backend.rope(&x, &[0, 1], &bad(|s| s.rotary_dim = 18)),
    );
    refused(
        name,
        Want::Argument,
        "rope",
        "theta = 0",
        backend.rope(&x, &[0, 1], &bad(|s| s.theta = 0.0)),
    );
    let head_weight = weight(backend, &mut case, QuantFormat::F32, 1, 16);
    let wide_weight = weight(backend, &mut case, QuantFormat::F32, 1, 32);
    let fused = |w, positions: &[u32], spec: &RopeSpec, eps| {
        let x = tensor(backend, &mut Case::new("head_norm_rope x"), 2, 32);
        backend.head_norm_rope(x, w, eps, 0.0, positions, spec)
    };
    refused(
        name,
        Want::Shape,
        "head_norm_rope",
        "3 positions for 2 rows",
        fused(&head_weight, &[0, 1, 2], &spec, 1e-6),
    );
    refused(
        name,
        Want::Shape,
        "head_norm_rope",
        "head_dim 12 (32 columns)",
        fused(&head_weight, &[0, 1], &bad(|s| s.head_dim = 12), 1e-6),
    );
    refused(
        name,
        Want::Shape,
        "head_norm_rope",
        "a [1, 32] weight for heads of 16",
        fused(&wide_weight, &[0, 1], &spec, 1e-6),
    );
    refused(
        name,
        Want::Argument,
        "head_norm_rope",
        "eps = -1",
        fused(&head_weight, &[0, 1], &spec, -1.0),
    );
}

/// `attention`.
pub fn attention_errors<B: Backend>(backend: &B, mut case: Case) {
    let name = case.name();
    let spec = AttentionSpec {
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 8,
        scale: 0.35,
        past: 3,
    };
    let q = tensor(backend, &mut case, 2, 32);
    let k = tensor(backend, &mut case, 5, 16);
    let v = tensor(backend, &mut case, 5, 16);
    let short = tensor(backend, &mut case, 4, 16);
    let narrow = tensor(backend, &mut case, 5, 8);
    ok(name, "attention", backend.attention(&q, &k, &v, &spec));
    refused(
        name,
        Want::Shape,
        "attention",
        "past 3 + 2 rows over a 4-row k cache",
        backend.attention(&q, &short, &v, &spec),
    );
    refused(
        name,
        Want::Shape,
        "attention",
        "past 3 + 2 rows over a 4-row v cache",
        backend.attention(&q, &k, &short, &spec),
    );
    refused(
        name,
        Want::Shape,
        "attention",
        "an [5, 8] k cache for 2 kv heads of 8",
        backend.attention(&q, &narrow, &v, &spec),
    );
    let gqa = AttentionSpec {
        n_kv_heads: 3,
        ..spec
    };
    refused(
        name,
        Want::Shape,
        "attention",
        "3 kv heads for 4 query heads",
        backend.attention(&q, &k, &v, &gqa),
    );
    let wide = AttentionSpec { n_heads: 8, ..spec };
    refused(
        name,
        Want::Shape,
        "attention",
        "8 heads of 8 for 32 q columns",
        backend.attention(&q, &k, &v, &wide),
    );
    // qkv_prologue: [2, 4·8 + 2·2·8] = [2, 64] rows into 5-row caches at past 3.
    let qkv = tensor(backend, &mut case, 2, 64);
    let rope = RopeSpec {
        head_dim: 8,
        rotary_dim: 8,
        theta: 10000.0,
        interleaved: false,
    };
    fn prologue<W>(spec: AttentionSpec, positions: &[u32], rope: RopeSpec) -> QkvPrologue<'_, W> {
        QkvPrologue {
            norms: None,
            norm_eps: 1e-6,
            norm_offset: 0.0,
            positions,
            rope,
            attention: spec,
        }
    }
    let mut kc = tensor(backend, &mut case, 5, 16);
    let mut vc = tensor(backend, &mut case, 5, 16);
    let mut small = tensor(backend, &mut case, 4, 16);
    refused(
        name,
        Want::Shape,
        "qkv_prologue",
        "a [2, 32] qkv for 4 + 2 · 2 heads of 8",
        backend.qkv_prologue(&q, &prologue(spec, &[3, 4], rope), &mut kc, &mut vc),
    );
    refused(
        name,
        Want::Shape,
        "qkv_prologue",
        "past 3 + 2 rows into a 4-row k cache",
        backend.qkv_prologue(&qkv, &prologue(spec, &[3, 4], rope), &mut small, &mut vc),
    );
    refused(
        name,
        Want::Shape,
        "qkv_prologue",
        "3 positions for 2 rows",
        backend.qkv_prologue(&qkv, &prologue(spec, &[3, 4, 5], rope), &mut kc, &mut vc),
    );
    ok(
        name,
        "qkv_prologue",
        backend.qkv_prologue(&qkv, &prologue(spec, &[3, 4], rope), &mut kc, &mut vc),
    );
}

/// `swiglu`, `swiglu_packed`, `add`, `mul`.
pub fn elementwise_errors<B: Backend>(backend: &B, mut case: Case) {
    let name = case.name();
    let a = tensor(backend, &mut case, 3, 8);
    let b = tensor(backend, &mut case, 3, 4);
    let per_column = tensor(backend, &mut case, 1, 8);
    let wrong_rows = tensor(backend, &mut case, 2, 1);
    refused(
        name,
        Want::Shape,
        "swiglu",
        "[3, 8] and [3, 4]",
        backend.swiglu(&a, &b),
    );
    let odd = tensor(backend, &mut case, 2, 7);
    refused(
        name,
        Want::Shape,
        "swiglu_packed",
        "7 columns",
        backend.swiglu_packed(&odd),
    );
    refused(
        name,
        Want::Shape,
        "add",
        "[3, 8] and [3, 4]",
        backend.add(&a, &b),
    );
    refused(
        name,
        Want::Shape,
        "mul",
        "[3, 8] by [3, 4]",
        backend.mul(&a, &b),
    );
    refused(
        name,
        Want::Shape,
        "mul",
        "[3, 8] by [1, 8]",
        backend.mul(&a, &per_column),
    );
    refused(
        name,
        Want::Shape,
        "mul",
        "[3, 8] by [2, 1]",
        backend.mul(&a, &wrong_rows),
    );
}

/// `softmax_topk`.
pub fn router_errors<B: Backend>(backend: &B, mut case: Case) {
    let name = case.name();
    let logits = tensor(backend, &mut case, 2, 8);
    refused(
        name,
        Want::Shape,
        "softmax_topk",
        "k = 0",
        backend.softmax_topk(&logits, 0, true),
    );
    refused(
        name,
        Want::Shape,
        "softmax_topk",
        "k = 9 of 8 experts",
        backend.softmax_topk(&logits, 9, true),
    );
}

/// `gather_rows`, `write_rows`, `scatter_add_rows`.
pub fn row_errors<B: Backend>(backend: &B, mut case: Case) {
    let name = case.name();
    let mut dst = tensor(backend, &mut case, 4, 8);
    let src = tensor(backend, &mut case, 2, 8);
    let narrow = tensor(backend, &mut case, 2, 4);
    refused(
        name,
        Want::Shape,
        "gather_rows",
        "row 4 of 4",
        backend.gather_rows(&dst, &[0, 4]),
    );
    refused(
        name,
        Want::Shape,
        "gather_rows",
        "no rows",
        backend.gather_rows(&dst, &[]),
    );
    refused(
        name,
        Want::Shape,
        "write_rows",
        "2 rows at row 3 of 4",
        backend.write_rows(&mut dst, 3, &src),
    );
    refused(
        name,
        Want::Shape,
        "write_rows",
        "4 columns into 8",
        backend.write_rows(&mut dst, 0, &narrow),
    );
    let op = "scatter_add_rows";
    refused(
        name,
        Want::Shape,
        op,
        "1 row id for 2 rows",
        backend.scatter_add_rows(&mut dst, &src, &[0], &[1.0, 1.0]),
    );
    refused(
        name,
        Want::Shape,
        op,
        "3 weights for 2 rows",
        backend.scatter_add_rows(&mut dst, &src, &[0, 1], &[1.0; 3]),
    );
    refused(
        name,
        Want::Shape,
        op,
        "row 4 of 4",
        backend.scatter_add_rows(&mut dst, &src, &[0, 4], &[1.0, 1.0]),
    );
    refused(
        name,
        Want::Shape,
        op,
        "4 columns into 8",
        backend.scatter_add_rows(&mut dst, &narrow, &[0, 1], &[1.0, 1.0]),
    );
}
