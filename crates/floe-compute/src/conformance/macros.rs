//! `backend_conformance_tests!`: the list of cases, expanded into `#[test]`s for one backend.

/// Expands to a module `$suite` of `#[test]`s, one per conformance case, each running on a
/// backend built by `$make` (a closure returning `Result<backend, impl Display>`; an `Err`
/// fails the tests that need it):
///
/// ```no_run
/// use floe_compute::cpu::CpuBackend;
///
/// floe_compute::backend_conformance_tests!(cpu, || CpuBackend::new(Some(2)));
/// # fn main() {}
/// ```
///
/// Tests are named `<suite>::<op>_<format>::<shape>`, e.g. `cpu::matmul_q4::t7_k256_n33`, so
/// `cargo test matmul_q4` runs one group. See [`crate::conformance`] for what is checked.
#[macro_export]
macro_rules! backend_conformance_tests {
    ($suite:ident, $make:expr) => {
        #[allow(non_snake_case)]
        mod $suite {
            #[allow(unused_imports)]
            use super::*;

            fn backend() -> impl $crate::Backend {
                $crate::conformance::make_backend($make)
            }

            $crate::__conformance_group!(matmul_f32, matmul {
                t1_k32_n37: ("f32", 1, 32, 37), t7_k32_n5: ("f32", 7, 32, 5), t1_k64_n64: ("f32", 1, 64, 64),
                t7_k64_n129: ("f32", 7, 64, 129), t1_k256_n300: ("f32", 1, 256, 300), t7_k256_n33: ("f32", 7, 256, 33), t3_k256_n33: ("f32", 3, 256, 33),
                t1_k2048_n301: ("f32", 1, 2048, 301), t7_k2048_n45: ("f32", 7, 2048, 45), t32_k256_n70: ("f32", 32, 256, 70),
                t1_k37_n11: ("f32", 1, 37, 11), t7_k3_n9: ("f32", 7, 3, 9),
            });
            $crate::__conformance_group!(matmul_f16, matmul {
                t1_k32_n37: ("f16", 1, 32, 37), t7_k64_n129: ("f16", 7, 64, 129), t1_k256_n300: ("f16", 1, 256, 300),
                t7_k256_n33: ("f16", 7, 256, 33), t1_k2048_n301: ("f16", 1, 2048, 301), t7_k2048_n45: ("f16", 7, 2048, 45),
                t32_k256_n70: ("f16", 32, 256, 70), t1_k37_n11: ("f16", 1, 37, 11),
            });
            $crate::__conformance_group!(matmul_bf16, matmul {
                t1_k32_n37: ("bf16", 1, 32, 37), t7_k64_n129: ("bf16", 7, 64, 129), t1_k256_n300: ("bf16", 1, 256, 300),
                t7_k256_n33: ("bf16", 7, 256, 33), t3_k256_n33: ("bf16", 3, 256, 33), t1_k2048_n301: ("bf16", 1, 2048, 301), t7_k2048_n45: ("bf16", 7, 2048, 45),
                t32_k256_n70: ("bf16", 32, 256, 70), t1_k37_n11: ("bf16", 1, 37, 11),
            });
            $crate::__conformance_group!(matmul_q8_0, matmul {
                t1_k32_n37: ("q8_0", 1, 32, 37), t7_k32_n5: ("q8_0", 7, 32, 5), t1_k64_n64: ("q8_0", 1, 64, 64),
                t7_k64_n129: ("q8_0", 7, 64, 129), t1_k256_n300: ("q8_0", 1, 256, 300), t7_k256_n33: ("q8_0", 7, 256, 33), t3_k256_n33: ("q8_0", 3, 256, 33),
                t1_k2048_n301: ("q8_0", 1, 2048, 301), t7_k2048_n45: ("q8_0", 7, 2048, 45), t32_k256_n70: ("q8_0", 32, 256, 70),
            });
            $crate::__conformance_group!(matmul_q4, matmul {
                t1_k64_n64: ("q4", 1, 64, 64), t7_k64_n129: ("q4", 7, 64, 129), t1_k256_n300: ("q4", 1, 256, 300),
                t7_k256_n33: ("q4", 7, 256, 33), t1_k2048_n301: ("q4", 1, 2048, 301), t7_k2048_n45: ("q4", 7, 2048, 45),
                t32_k256_n70: ("q4", 32, 256, 70), t2_k128_n3: ("q4", 2, 128, 3),
            });
            $crate::__conformance_group!(matmul_q2, matmul {
                t1_k64_n64: ("q2", 1, 64, 64), t7_k64_n129: ("q2", 7, 64, 129), t1_k256_n300: ("q2", 1, 256, 300),
                t7_k256_n33: ("q2", 7, 256, 33), t3_k256_n33: ("q2", 3, 256, 33), t1_k2048_n301: ("q2", 1, 2048, 301), t7_k2048_n45: ("q2", 7, 2048, 45),
                t32_k256_n70: ("q2", 32, 256, 70),
            });
            $crate::__conformance_group!(matmul_affine8_g32_f16, matmul {
                t1_k32_n37: ("affine8-g32-f16", 1, 32, 37), t7_k64_n129: ("affine8-g32-f16", 7, 64, 129),
                t1_k256_n300: ("affine8-g32-f16", 1, 256, 300), t7_k2048_n45: ("affine8-g32-f16", 7, 2048, 45),
                t1_k2048_n301: ("affine8-g32-f16", 1, 2048, 301),
            });
            $crate::__conformance_group!(matmul_affine4_g128_f32, matmul {
                t1_k128_n37: ("affine4-g128-f32", 1, 128, 37), t7_k256_n33: ("affine4-g128-f32", 7, 256, 33),
                t1_k2048_n301: ("affine4-g128-f32", 1, 2048, 301), t7_k2048_n45: ("affine4-g128-f32", 7, 2048, 45),
            });
            $crate::__conformance_group!(matmul_affine2_g32_f32, matmul {
                t1_k32_n37: ("affine2-g32-f32", 1, 32, 37), t7_k256_n33: ("affine2-g32-f32", 7, 256, 33),
                t1_k2048_n301: ("affine2-g32-f32", 1, 2048, 301),
            });
            $crate::__conformance_group!(matmul_affine8_g128_bf16, matmul {
                t1_k256_n300: ("affine8-g128-bf16", 1, 256, 300), t7_k2048_n45: ("affine8-g128-bf16", 7, 2048, 45),
            });
            $crate::__conformance_group!(matmul_affine4_g32_bf16, matmul {
                t1_k32_n37: ("affine4-g32-bf16", 1, 32, 37), t7_k256_n33: ("affine4-g32-bf16", 7, 256, 33),
            });

            $crate::__conformance_group!(embed, embed {
                f32: ("f32", 50, 37, 9), f16: ("f16", 50, 64, 9), bf16: ("bf16", 50, 256, 9), q8_0: ("q8_0", 50, 64, 9),
                q4: ("q4", 50, 256, 9), q2: ("q2", 50, 128, 9), affine8_g32_f16: ("affine8-g32-f16", 20, 64, 5),
                affine4_g128_f32: ("affine4-g128-f32", 20, 256, 5), one_id: ("q4", 3, 64, 1),
                many_ids: ("q8_0", 100, 256, 64),
            });
            $crate::__conformance_group!(rms_norm, rms_norm {
                f32_t1_c64: ("f32", 1, 64, 0.0), bf16_t7_c2048_zero_centred: ("bf16", 7, 2048, 1.0),
                f16_t3_c37: ("f16", 3, 37, 0.0), f32_t32_c256_zero_centred: ("f32", 32, 256, 1.0),
                q8_0_t2_c64: ("q8_0", 2, 64, 0.0), q4_t2_c128_zero_centred: ("q4", 2, 128, 1.0),
                bf16_t32_c2048: ("bf16", 32, 2048, 0.0),
            });
            $crate::__conformance_group!(add_rms_norm, add_rms_norm {
                f32_t1_c64: ("f32", 1, 64, 0.0), bf16_t7_c2048_zero_centred: ("bf16", 7, 2048, 1.0),
                f16_t3_c37: ("f16", 3, 37, 0.0), f32_t32_c512: ("f32", 32, 512, 0.0),
                f32_t1_c2048: ("f32", 1, 2048, 0.0),
            });
            $crate::__conformance_group!(rope, rope {
                neox_t1_pos0: (1, 4, 64, 64, false, 10000.0, 0),
                neox_t7: (7, 2, 64, 64, false, 10000.0, 200),
                neox_large_positions: (5, 2, 128, 128, false, 1e6, 30000),
                neox_partial_64_of_256: (7, 2, 256, 64, false, 1e7, 4000),
                neox_partial_32_of_128: (3, 4, 128, 32, false, 10000.0, 50),
                interleaved_t7: (7, 2, 64, 64, true, 10000.0, 300),
                interleaved_partial_16_of_64: (4, 3, 64, 16, true, 10000.0, 1000),
                many_rows: (32, 8, 128, 128, false, 1e6, 5000),
                no_rotation: (2, 2, 32, 0, false, 10000.0, 9),
            });
            $crate::__conformance_group!(head_norm_rope, head_norm_rope {
                f32_t1_h4_d128: ("f32", 1, 4, 128, 128, false, 0),
                bf16_t7_h8_d128: ("bf16", 7, 8, 128, 128, false, 3000),
                f32_t3_h2_d64_interleaved: ("f32", 3, 2, 64, 64, true, 500),
                f32_t5_h3_d256_partial: ("f32", 5, 3, 256, 64, false, 9000),
                f16_t2_h16_d32: ("f16", 2, 16, 32, 32, false, 40),
                f32_t1_h2_d48_no_rotation: ("f32", 1, 2, 48, 0, false, 7),
            });
            $crate::__conformance_group!(attention, attention {
                gqa1_t1_past0: (1, 4, 4, 64, 0, 8, 1.0),
                gqa1_t7_past0_full_cache: (7, 2, 2, 32, 0, 7, 1.0),
                gqa2_t1_past9: (1, 8, 4, 64, 9, 16, 1.0),
                gqa2_t7_past3_d256: (7, 4, 2, 256, 3, 12, 1.0),
                gqa4_t7_past5: (7, 8, 2, 128, 5, 20, 1.0),
                gqa4_t1_past300: (1, 16, 4, 64, 300, 320, 1.0),
                gqa8_t3_past2: (3, 8, 1, 64, 2, 8, 1.0),
                gqa2_t32_past0: (32, 4, 2, 64, 0, 40, 1.0),
                large_scores_t5_past6: (5, 4, 2, 64, 6, 16, 12.0),
                gqa2_t2_past1500_long: (2, 4, 2, 64, 1500, 1510, 1.0),
                large_scores_t1_past2100_long: (1, 4, 2, 64, 2100, 2101, 12.0),
                gqa2_t3_past4_d24_odd_width: (3, 2, 1, 24, 4, 8, 1.0),
                gqa2_t2_past20_d576_wide: (2, 2, 1, 576, 20, 24, 1.0),
                gqa2_t1_past300_d576_wide: (1, 2, 1, 576, 300, 301, 1.0),
                gqa2_t7_past200: (7, 4, 2, 64, 200, 210, 1.0),
                gqa2_t100_past40_empty_ranges: (100, 2, 1, 32, 40, 140, 1.0),
            });
            $crate::__conformance_group!(qkv_prologue, qkv_prologue {
                f32_t1_gqa4_d128_past7: ("f32", 1, 8, 2, 128, 128, 7, 12),
                bf16_t5_gqa2_d64_past0: ("bf16", 5, 4, 2, 64, 64, 0, 8),
                f16_t3_gqa1_d32_partial: ("f16", 3, 2, 2, 32, 16, 4, 7),
                none_t2_gqa4_d64: ("none", 2, 8, 2, 64, 64, 3, 5),
                f32_t1_gqa8_d256_full_cache: ("f32", 1, 8, 1, 256, 256, 9, 10),
            });
            $crate::__conformance_group!(swiglu, swiglu { t1_c64: (1, 64), t7_c1000: (7, 1000), large: (16, 8192) });
            $crate::__conformance_group!(swiglu_packed, swiglu_packed {
                t1_c64: (1, 64), t7_c1000: (7, 1000), t8_c768: (8, 768), large: (16, 8192), odd_width: (3, 37),
            });
            $crate::__conformance_group!(activation, activation {
                silu_t7_c333: ("silu", 7, 333), sigmoid_t7_c333: ("sigmoid", 7, 333),
                silu_large: ("silu", 16, 8192), sigmoid_t1_c1: ("sigmoid", 1, 1),
            });
            $crate::__conformance_group!(add, add { t3_c17: (3, 17), t1_c4096: (1, 4096), large: (16, 8192) });
            $crate::__conformance_group!(mul, mul {
                same_t3_c17: (3, 17, false), same_large: (16, 8192, false),
                per_row_t7_c300: (7, 300, true), per_row_large: (64, 2048, true), per_row_one_column: (5, 1, true),
            });
            $crate::__conformance_group!(softmax_topk, softmax_topk {
                t1_e8_k2_renorm: (1, 8, 2, true, false, 8.0),
                t7_e64_k8: (7, 64, 8, false, false, 8.0),
                t3_e128_k_all: (3, 128, 128, true, false, 8.0),
                t5_e512_k10_renorm: (5, 512, 10, true, false, 16.0),
                t2_e1100_k6_renorm: (2, 1100, 6, true, false, 16.0),
                t4_e60_k4_ties: (4, 60, 4, true, true, 8.0),
                t2_e32_k1_ties: (2, 32, 1, false, true, 8.0),
                large_logits: (3, 16, 4, true, false, 200.0),
            });
            $crate::__conformance_group!(softmax_topk_many, softmax_topk_many {
                two_layers: (&[(1, 128, 8, true), (1, 128, 8, true)]),
                mixed: (&[(3, 64, 4, false), (1, 8, 2, true), (5, 512, 10, true)]),
                one: (&[(2, 60, 6, true)]),
            });
            $crate::__conformance_group!(route_topk, route_topk {
                t1_e8_k2_renorm: (1, 8, 2, true), t7_e64_k8: (7, 64, 8, false),
                t5_e512_k10_renorm: (5, 512, 10, true), t3_e128_k_all: (3, 128, 128, true),
            });
            $crate::__conformance_group!(matmul_selected, matmul_selected {
                q4_t1_e8_k2_routed: ("q4", 1, 256, 70, 8, 2, false, false),
                q4_t1_e16_k4_per_selection: ("q4", 1, 128, 256, 16, 4, true, false),
                q4_t5_e8_k3_uploaded: ("q4", 5, 256, 33, 8, 3, false, true),
                q2_t2_e4_k2_uploaded: ("q2", 2, 256, 40, 4, 2, true, true),
                q8_0_t3_e6_k2: ("q8_0", 3, 64, 129, 6, 2, false, true),
                q8_0_t1_e32_k8_per_selection: ("q8_0", 1, 512, 64, 32, 8, true, false),
                f32_t2_e4_k2: ("f32", 2, 64, 37, 4, 2, false, true),
                f32_odd_columns: ("f32", 2, 37, 11, 3, 2, true, true),
                f16_t4_e5_k2: ("f16", 4, 64, 20, 5, 2, true, true),
                bf16_t1_e8_k4: ("bf16", 1, 256, 300, 8, 4, false, false),
                affine8_g32_f16_t2: ("affine8-g32-f16", 2, 64, 33, 4, 2, false, true),
                affine2_g32_f32_t3: ("affine2-g32-f32", 3, 96, 17, 4, 2, true, true),
                q4_prefill_t40_e8_k2: ("q4", 40, 128, 64, 8, 2, false, false),
            });
            $crate::__conformance_group!(combine_selected, combine_selected {
                t1_k1_c16: (1, 1, 16), t1_k8_c2048: (1, 8, 2048), t5_k3_c33: (5, 3, 33), t40_k2_c256: (40, 2, 256),
            });
            $crate::__conformance_group!(tensors, upload_download { t1_c1: (1, 1), t7_c333: (7, 333) });
            $crate::__conformance_group!(zeros, zeros { t1_c1: (1, 1), t5_c100: (5, 100) });
            $crate::__conformance_group!(reshape, reshape { heads: (7, 256, 28, 64), flatten: (4, 8, 1, 32), t1: (1, 6, 3, 2) });
            $crate::__conformance_group!(slice_cols, slice_cols {
                start: (3, 40, 0, 8), middle: (7, 256, 64, 128), end: (2, 33, 20, 13), one: (1, 5, 4, 1),
            });
            $crate::__conformance_group!(gather_rows, gather_rows { t9_of_20: (20, 64, 9), t1_of_1: (1, 7, 1), t50_of_5: (5, 33, 50) });
            $crate::__conformance_group!(write_rows, write_rows {
                middle: (16, 64, 5, 3), at_start: (8, 32, 0, 1), at_end: (8, 32, 7, 1), whole: (6, 17, 0, 6),
            });
            $crate::__conformance_group!(scatter_add_rows, scatter_add_rows {
                t4_into_8: (8, 64, 4), t1_into_1: (1, 16, 1), t20_into_6: (6, 33, 20),
            });
            $crate::__conformance_group!(causal_conv1d, causal_conv1d {
                f32_t1_t1_c64_k4_silu: ("f32", 1, 1, 64, 4, "silu"),
                bf16_t7_t5_c256_k4_silu: ("bf16", 7, 5, 256, 4, "silu"),
                f16_t2_t1_c33_k4: ("f16", 2, 1, 33, 4, "none"),
                f32_t1_t9_c40_k2_sigmoid: ("f32", 1, 9, 40, 2, "sigmoid"),
                f32_t16_t16_c128_k3_silu: ("f32", 16, 16, 128, 3, "silu"),
                f32_t3_t2_c17_k6: ("f32", 3, 2, 17, 6, "none"),
                bf16_large: ("bf16", 32, 1, 2048, 4, "silu"),
            });
            $crate::__conformance_group!(gated_delta_rule, gated_delta_rule {
                t1_t1_k2_v4_d16: (1, 1, 2, 4, 16, 16, true),
                t5_t3_k2_v4_d32: (5, 3, 2, 4, 32, 32, true),
                t7_t1_k1_v3_dk16_dv8: (7, 1, 1, 3, 16, 8, true),
                t2_t9_k4_v4_dk8_dv24: (2, 9, 4, 4, 8, 24, true),
                t16_t1_k2_v8_d64: (16, 1, 2, 8, 64, 64, true),
                t4_t4_unnormalized: (4, 4, 2, 4, 16, 16, false),
                t1_t1_k16_v64_d128: (1, 1, 16, 64, 128, 128, true),
            });
            $crate::__conformance_group!(bad_operands, {
                tensors: tensor_errors, weights: weight_errors, embed: embed_errors, matmul: matmul_errors,
                rms_norm: rms_norm_errors, rope: rope_errors, attention: attention_errors,
                elementwise: elementwise_errors, router: router_errors, rows: row_errors,
                recurrent: recurrent_errors, selected: selected_errors,
            });
        }
    };
}

/// One module of conformance tests (an implementation detail of
/// [`backend_conformance_tests!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_group {
    ($group:ident, $runner:ident { $($case:ident: ($($arg:expr),*)),* $(,)? }) => {
        mod $group {
            $(
                #[test]
                fn $case() {
                    let case = $crate::conformance::Case::new(concat!(stringify!($group), "::", stringify!($case)));
                    $crate::conformance::cases::$runner(&super::backend(), case, $($arg),*);
                }
            )*
        }
    };
    ($group:ident, { $($case:ident: $runner:ident),* $(,)? }) => {
        mod $group {
            $(
                #[test]
                fn $case() {
                    let case = $crate::conformance::Case::new(concat!(stringify!($group), "::", stringify!($case)));
                    $crate::conformance::cases::$runner(&super::backend(), case);
                }
            )*
        }
    };
}
