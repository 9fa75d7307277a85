//! The WGSL sources: each kernel's template plus the snippets it shares with others.

const COMMON: &str = include_str!("shaders/common.wgsl");
const REDUCE_SG: &str = include_str!("shaders/reduce_sg.wgsl");
const REDUCE_WG: &str = include_str!("shaders/reduce_wg.wgsl");
const DEQUANT: &str = include_str!("shaders/dequant.wgsl");
const AFFINE_SCALE: &str = include_str!("shaders/affine_scale.wgsl");

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
        "embed" => t(include_str!("shaders/embed.wgsl"), false, true),
        "rms_norm" => t(include_str!("shaders/rms_norm.wgsl"), true, true),
        "matvec_generic" => t(include_str!("shaders/matvec_generic.wgsl"), true, true),
        "matmul_tiled" => t(include_str!("shaders/matmul_tiled.wgsl"), false, true),
        "matvec_selected_generic" => sel(include_str!("shaders/matvec_selected_generic.wgsl")),
        "combine_selected" => t(include_str!("shaders/combine_selected.wgsl"), false, false),
        "softmax_topk" => t(include_str!("shaders/softmax_topk.wgsl"), false, false),
        "quantize_x" => t(include_str!("shaders/quantize_x.wgsl"), false, false),
        "attn_scores" => t(include_str!("shaders/attn_scores.wgsl"), false, false),
        "attn_softmax" => t(include_str!("shaders/attn_softmax.wgsl"), true, false),
        "attn_out" => t(include_str!("shaders/attn_out.wgsl"), false, false),
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
    let body = t
        .body
        .replace("/*SG_ARGS*/", if subgroups { SG_ARGS } else { "" })
        .replace("/*SG_INIT*/", if subgroups { SG_INIT } else { "" });
    src.push_str(&body);
    Some(src)
}
