//! The WGSL sources: each kernel's template plus the snippets it shares with others.

const COMMON: &str = include_str!("shaders/common.wgsl");
const REDUCE_SG: &str = include_str!("shaders/reduce_sg.wgsl");
const REDUCE_WG: &str = include_str!("shaders/reduce_wg.wgsl");
const DEQUANT: &str = include_str!("shaders/dequant.wgsl");
const AFFINE_SCALE: &str = include_str!("shaders/affine_scale.wgsl");
const QUANTIZE_BLOCK: &str = include_str!("shaders/quantize_block.wgsl");
const ROPE_PAIR: &str = include_str!("shaders/rope_pair.wgsl");

/// The widest head whose attention output `attention_q` quantizes (its workgroup keeps the head).
pub(crate) const MAX_Q_HEAD_DIM: usize = 512;

/// Entry-point parameters and their copies into globals, for kernels that reduce with subgroups.
const SG_ARGS: &str = ", @builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_id) sg_id: u32, @builtin(num_subgroups) sg_num: u32";
const SG_INIT: &str = "g_lane = sg_lane; g_sgid = sg_id; g_nsg = sg_num;";

/// What a kernel's template needs around it.
struct Template {
    body: &'static str,
    /// Uses `wg_sum` / `wg_max`.
    reduce: bool,
    /// Uses `w_value` (reads stored weights generically).
    dequant: bool,
    /// An expert-indexed kernel: the generic weight reader adds the entry's offset `g_wbase`.
    selected: bool,
}

fn lookup(name: &str) -> Option<Template> {
    let t = |body, reduce, dequant| {
        Some(Template {
            body,
            reduce,
            dequant,
            selected: false,
        })
    };
    let sel = |body| {
        Some(Template {
            body,
            reduce: true,
            dequant: true,
            selected: true,
        })
    };
    match name {
        "elementwise" => t(include_str!("shaders/elementwise.wgsl"), false, false),
        "rows" => t(include_str!("shaders/rows.wgsl"), false, false),
        "scatter_add" => t(include_str!("shaders/scatter_add.wgsl"), false, false),
        "rope" => t(include_str!("shaders/rope.wgsl"), false, false),
        "head_norm_rope" | "head_norm_rope_v" => {
            t(include_str!("shaders/head_norm_rope.wgsl"), true, true)
        }
        "embed" => t(include_str!("shaders/embed.wgsl"), false, true),
        "rms_norm" | "rms_norm_q" | "add_rms_norm" | "add_rms_norm_q" => {
            t(include_str!("shaders/rms_norm.wgsl"), true, true)
        }
        "swiglu_q" => t(include_str!("shaders/swiglu_q.wgsl"), false, false),
        "matvec_generic" => t(include_str!("shaders/matvec_generic.wgsl"), true, true),
        "matmul_tiled" => t(include_str!("shaders/matmul_tiled.wgsl"), false, true),
        "matvec_selected_generic" => sel(include_str!("shaders/matvec_selected_generic.wgsl")),
        "combine_selected" => t(include_str!("shaders/combine_selected.wgsl"), false, false),
        "softmax_topk" => t(include_str!("shaders/softmax_topk.wgsl"), true, false),
        "quantize_x" => t(include_str!("shaders/quantize_x.wgsl"), false, false),
        "attention" | "attention_q" => t(include_str!("shaders/attention.wgsl"), true, false),
        "attention_merge" | "attention_merge_q" => {
            t(include_str!("shaders/attention_merge.wgsl"), true, false)
        }
        "conv1d" => t(include_str!("shaders/conv1d.wgsl"), false, true),
        "delta_rule" => t(include_str!("shaders/delta_rule.wgsl"), false, false),
        _ => None,
    }
}

/// The one-token matrix-vector kernel (`matvec1.wgsl`) around a format's unit snippet, plain or
/// selected (`matvec1s_*`: the expert-indexed product), with its bindings numbered after the
/// snippet's weight bindings.
fn matvec1(name: &str) -> Option<String> {
    let (selected, format) = match name.strip_prefix("matvec1s_") {
        Some(format) => (true, format),
        None => (false, name.strip_prefix("matvec1_")?),
    };
    // The format's snippet, its weight bindings and the type of X (int8 x blocks for the
    // integer-dot `_i8` kernels).
    let (unit_fn, weight_bindings, x_type) = match format {
        "affine" => (include_str!("shaders/mv1_affine.wgsl"), 2, "vec4<f32>"),
        "affine_i8" => (include_str!("shaders/mv1_affine_i8.wgsl"), 2, "vec4<u32>"),
        "q8_0" => (include_str!("shaders/mv1_q8_0.wgsl"), 1, "vec4<f32>"),
        "q8_0_i8" => (include_str!("shaders/mv1_q8_0_i8.wgsl"), 1, "vec4<u32>"),
        "float" => (include_str!("shaders/mv1_float.wgsl"), 1, "vec4<f32>"),
        _ => return None,
    };
    let (x, y) = (weight_bindings + 1, weight_bindings + 2);
    let sel_decl = if selected {
        format!(
            "@group(0) @binding({}) var<storage, read> IDS: array<f32>;",
            y + 1
        )
    } else {
        String::new()
    };
    let locate = if selected {
        include_str!("shaders/mv1_sel.wgsl")
    } else {
        include_str!("shaders/mv1_tokens.wgsl")
    };
    let body = include_str!("shaders/matvec1.wgsl")
        .replace("/*WEIGHT_DECL*/", "")
        .replace("/*BX*/", &x.to_string())
        .replace("/*BY*/", &y.to_string())
        .replace("/*SEL_DECL*/", &sel_decl)
        .replace("/*LOCATE*/", locate)
        .replace("/*UNIT_FN*/", unit_fn)
        .replace("/*XTYPE*/", x_type)
        .replace("/*I8_X*/", include_str!("shaders/mv1_i8_x.wgsl"))
        .replace("/*F32_X*/", include_str!("shaders/mv1_x_f32.wgsl"))
        .replace("/*Q8_BLOCK*/", include_str!("shaders/q8_0_block.wgsl"))
        .replace("/*AFFINE_SCALE*/", AFFINE_SCALE);
    Some(format!("{COMMON}{body}"))
}

/// The declarations of a producer kernel's int8 output (binding `binding`; see
/// `quantize_block.wgsl`): x value `i` is `value` (an expression of `i`), and `store` (a
/// statement of `i` and the value `v`) runs with each.
fn int8_output(binding: u32, value: &str, store: &str) -> String {
    format!(
        "@group(0) @binding({binding}) var<storage, read_write> XQ: array<u32>;\n\
         fn qx_value(i: u32) -> f32 {{ return {value}; }}\n\
         fn qx_store(i: u32, v: f32) {{ {store} }}\n{QUANTIZE_BLOCK}"
    )
}

/// The attention variant `name` (see `attention.wgsl` and `attention_merge.wgsl`): whether it
/// writes int8 blocks of its output, each workgroup those of its head (kept in workgroup memory
/// as they are written).
fn attention_variant(name: &str, body: &str) -> String {
    // The hooks of the kernel, where its int8 blocks are bound, and how it keeps an output value.
    let (keep_hook, quantize_hook, binding, keep) = if name.starts_with("attention_merge") {
        (
            "/*MERGE_KEEP*/",
            "/*MERGE_QUANTIZE*/",
            3,
            "head_out[d] = acc * inv;",
        )
    } else {
        (
            "/*ATTN_KEEP*/",
            "/*ATTN_QUANTIZE*/",
            5,
            "head_out[d] = sum[i] * inv;",
        )
    };
    let (decl, keep, quantize) = if name.ends_with("_q") {
        (
            format!(
                "var<workgroup> head_out: array<f32, {MAX_Q_HEAD_DIM}>;\nvar<private> qb_start: u32;\n{}",
                int8_output(binding, "head_out[i - qb_start]", "")
            ),
            keep,
            "workgroupBarrier();\n    qb_start = qb;\n    quantize_blocks(qb, hd / 32u, qb / 32u);",
        )
    } else {
        (String::new(), "", "")
    };
    body.replace("/*Q_DECL*/", &decl)
        .replace(keep_hook, keep)
        .replace(quantize_hook, quantize)
}

/// The head_norm_rope variant `name` (see `head_norm_rope.wgsl`): whether workgroups past the
/// normed heads copy v heads.
fn head_norm_rope_variant(name: &str, body: &str) -> String {
    let (decl, copy) = if name.ends_with("_v") {
        (
            "@group(0) @binding(5) var<storage, read_write> OV: array<f32>;",
            "if g >= prm[0] * heads {\n        \
             let v = g - prm[0] * heads;\n        \
             if v >= prm[0] * heads {\n            return;\n        }\n        \
             let src = (v / heads) * prm[8] + prm[12] + (v % heads) * HD;\n        \
             let to = prm[11] + (v / heads) * prm[10] + (v % heads) * HD;\n        \
             for (var d = lid; d < HD; d = d + WG) {\n            \
             OV[to + d] = X[src + d];\n        }\n        return;\n    }",
        )
    } else {
        ("", "")
    };
    body.replace("/*V_DECL*/", decl).replace("/*V_COPY*/", copy)
}

/// The rms_norm variant `name` (see `rms_norm.wgsl`): where its row comes from (X, or X + D
/// also written to S) and whether it writes int8 blocks of its output.
fn rms_norm_variant(name: &str, body: &str) -> String {
    let (input, quant_binding) = if name.starts_with("add_") {
        (
            "@group(0) @binding(4) var<storage, read> D: array<f32>;\n\
             @group(0) @binding(5) var<storage, read_write> S: array<f32>;\n\
             fn first_value(i: u32) -> f32 { let v = X[i] + D[i]; S[i] = v; return v; }\n\
             fn row_value(i: u32) -> f32 { return X[i] + D[i]; }\n",
            6,
        )
    } else {
        (
            "fn first_value(i: u32) -> f32 { return X[i]; }\n\
             fn row_value(i: u32) -> f32 { return X[i]; }\n",
            4,
        )
    };
    let (decl, output) = if name.ends_with("_q") {
        // Each value computed once, in qx_value, stored by qx_store.
        (
            int8_output(quant_binding, "normed(i)", "O[i] = v;"),
            "quantize_blocks(base, g_cols / 32u, row * (g_cols / 32u));",
        )
    } else {
        (
            String::new(),
            "for (var c = lid; c < g_cols; c = c + WG) {\n        \
             O[base + c] = normed(base + c);\n    }",
        )
    };
    body.replace("/*NORM_INPUT*/", input)
        .replace("/*NORM_QUANT_DECL*/", &decl)
        .replace("/*NORM_OUTPUT*/", output)
}

/// The source of kernel `name` (without its constants), with subgroup or workgroup-memory
/// reductions.
pub(crate) fn template(name: &str, subgroups: bool) -> Option<String> {
    if name.starts_with("matvec1") {
        return matvec1(name);
    }
    let t = lookup(name)?;
    let mut src = String::from(COMMON);
    if t.reduce {
        src.push_str(if subgroups { REDUCE_SG } else { REDUCE_WG });
    }
    if t.dequant {
        let (word, byte) = if t.selected {
            (" + g_wbase", " + g_wbase * 4u")
        } else {
            ("", "")
        };
        src.push_str(
            &DEQUANT
                .replace("/*WB_WORD*/", word)
                .replace("/*WB_BYTE*/", byte),
        );
    }
    let body = if name.contains("rms_norm") {
        rms_norm_variant(name, t.body)
    } else if name.starts_with("attention") {
        attention_variant(name, t.body)
    } else if name.starts_with("head_norm_rope") {
        head_norm_rope_variant(name, t.body)
    } else {
        t.body.to_string()
    };
    let body = body
        .replace("/*SG_ARGS*/", if subgroups { SG_ARGS } else { "" })
        .replace("/*SG_INIT*/", if subgroups { SG_INIT } else { "" })
        .replace("/*QUANTIZE_BLOCK*/", QUANTIZE_BLOCK)
        .replace("/*ROPE_PAIR*/", ROPE_PAIR);
    src.push_str(&body);
    Some(src)
}
