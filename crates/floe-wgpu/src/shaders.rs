//! The WGSL sources: each kernel's template plus the snippets it shares with others.

const COMMON: &str = include_str!("shaders/common.wgsl");
const REDUCE_SG: &str = include_str!("shaders/reduce_sg.wgsl");
const REDUCE_WG: &str = include_str!("shaders/reduce_wg.wgsl");
const DEQUANT: &str = include_str!("shaders/dequant.wgsl");
const MV_FINISH_SG: &str = include_str!("shaders/mv_finish_sg.wgsl");
const MV_FINISH_WG: &str = include_str!("shaders/mv_finish_wg.wgsl");

/// Entry-point parameters and their copies into globals, for kernels that reduce with subgroups.
const SG_ARGS: &str = ", @builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_id) sg_id: u32, @builtin(num_subgroups) sg_num: u32";
const SG_INIT: &str = "g_lane = sg_lane; g_sgid = sg_id; g_nsg = sg_num;";

/// The prologue of a plain matrix-vector kernel (`/*MV_LOCATE*/`): the workgroup's first row, and
/// offsets of 0 into the weights (bytes), x (16-byte units) and y (values), as constants.
const MV_LOCATE_PLAIN: &str = "    let rows = prm[0];
    let cols = prm[1];
    let row0 = group_index(wid, nwg) * R;
    if row0 >= rows {
        return;
    }
    const w_off = 0u;
    const x_off = 0u;
    const y_off = 0u;";

/// The prologue of a selected matrix-vector kernel (one token per selection, NT = 1): the
/// workgroup is (row group, selection); it reads the selection's expert id from `IDS` (the
/// routing tensor), does nothing when the id is in another chunk, and writes NaN to its rows
/// (in the dispatch of the first chunk) when the id names no entry of the stack. prm: [7] k,
/// [8] x has one row per selection, [9] first entry of this chunk, [10] entries in it,
/// [11] entries of the stack, [12] this dispatch writes the NaN rows, [13] row groups,
/// [14] selections, [15] entry stride in bytes.
const MV_LOCATE_SELECTED: &str = "    let rows = prm[0];
    let cols = prm[1];
    let job = group_index(wid, nwg);
    let sel = job / prm[13];
    if sel >= prm[14] {
        return;
    }
    let row0 = (job % prm[13]) * R;
    let k = prm[7];
    let idf = IDS[(sel / k) * 2u * k + sel % k];
    let y_off = sel * prm[2];
    if !(idf >= 0.0 && idf < f32(prm[11]) && fract(idf) == 0.0) {
        if prm[12] != 0u && lid < R && row0 + lid < rows {
            var nan_bits = 0x7fc00000u;
            Y[y_off + prm[3] + row0 + lid] = bitcast<f32>(nan_bits);
        }
        return;
    }
    let id = u32(idf);
    if id < prm[9] || id - prm[9] >= prm[10] {
        return;
    }
    let w_off = (id - prm[9]) * prm[15];
    let x_off = select(sel / k, sel, prm[8] != 0u) * (cols / 4u);";

/// What a kernel's template needs around it.
struct Template {
    body: &'static str,
    /// Uses `wg_sum` / `wg_max`.
    reduce: bool,
    /// Uses `w_value` (reads stored weights generically).
    dequant: bool,
    /// Ends with the matrix-vector reduction and store.
    matvec: bool,
    /// The selected variant of an expert-indexed kernel: `Some(binding)` of the routing tensor
    /// `IDS` (matrix-vector kernels get the selected prologue, the weight reader its offset).
    selected: Option<u32>,
}

fn lookup(name: &str) -> Option<Template> {
    let t = |body, reduce, dequant, matvec| {
        Some(Template {
            body,
            reduce,
            dequant,
            matvec,
            selected: None,
        })
    };
    let sel = |body, dequant, matvec, ids| {
        Some(Template {
            body,
            reduce: dequant,
            dequant,
            matvec,
            selected: Some(ids),
        })
    };
    match name {
        "elementwise" => t(
            include_str!("shaders/elementwise.wgsl"),
            false,
            false,
            false,
        ),
        "rows" => t(include_str!("shaders/rows.wgsl"), false, false, false),
        "scatter_add" => t(
            include_str!("shaders/scatter_add.wgsl"),
            false,
            false,
            false,
        ),
        "rope" => t(include_str!("shaders/rope.wgsl"), false, false, false),
        "embed" => t(include_str!("shaders/embed.wgsl"), false, true, false),
        "rms_norm" => t(include_str!("shaders/rms_norm.wgsl"), true, true, false),
        "matvec_generic" => t(
            include_str!("shaders/matvec_generic.wgsl"),
            true,
            true,
            false,
        ),
        "matmul_tiled" => t(
            include_str!("shaders/matmul_tiled.wgsl"),
            false,
            true,
            false,
        ),
        "matvec_affine" => t(
            include_str!("shaders/matvec_affine.wgsl"),
            false,
            false,
            true,
        ),
        "matvec_float" => t(
            include_str!("shaders/matvec_float.wgsl"),
            false,
            false,
            true,
        ),
        "matvec_q8_0" => t(include_str!("shaders/matvec_q8_0.wgsl"), false, false, true),
        "matvec_affine_selected" => sel(include_str!("shaders/matvec_affine.wgsl"), false, true, 5),
        "matvec_float_selected" => sel(include_str!("shaders/matvec_float.wgsl"), false, true, 4),
        "matvec_q8_0_selected" => sel(include_str!("shaders/matvec_q8_0.wgsl"), false, true, 4),
        "matvec_selected_generic" => sel(
            include_str!("shaders/matvec_selected_generic.wgsl"),
            true,
            false,
            4,
        ),
        "combine_selected" => t(
            include_str!("shaders/combine_selected.wgsl"),
            false,
            false,
            false,
        ),
        "softmax_topk" => t(
            include_str!("shaders/softmax_topk.wgsl"),
            false,
            false,
            false,
        ),
        "attn_scores" => t(
            include_str!("shaders/attn_scores.wgsl"),
            false,
            false,
            false,
        ),
        "attn_softmax" => t(
            include_str!("shaders/attn_softmax.wgsl"),
            true,
            false,
            false,
        ),
        "attn_out" => t(include_str!("shaders/attn_out.wgsl"), false, false, false),
        "conv1d" => t(include_str!("shaders/conv1d.wgsl"), false, true, false),
        "delta_rule" => t(include_str!("shaders/delta_rule.wgsl"), false, false, false),
        _ => None,
    }
}

/// The source of kernel `name` (without its constants), with subgroup or workgroup-memory
/// reductions.
pub(crate) fn template(name: &str, subgroups: bool) -> Option<String> {
    let t = lookup(name)?;
    let mut src = String::from(COMMON);
    if t.reduce {
        src.push_str(if subgroups { REDUCE_SG } else { REDUCE_WG });
    }
    if t.dequant {
        let (word, byte) = if t.selected.is_some() {
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
    let finish = if subgroups {
        MV_FINISH_SG
    } else {
        MV_FINISH_WG
    };
    let body = t
        .body
        .replace("/*SG_ARGS*/", if subgroups { SG_ARGS } else { "" })
        .replace("/*SG_INIT*/", if subgroups { SG_INIT } else { "" })
        .replace("/*MV_FINISH*/", if t.matvec { finish } else { "" });
    let body = match t.selected {
        Some(ids) => body
            .replace(
                "/*MV_IDS*/",
                &format!("@group(0) @binding({ids}) var<storage, read> IDS: array<f32>;"),
            )
            .replace("/*MV_LOCATE*/", MV_LOCATE_SELECTED),
        None => body
            .replace("/*MV_IDS*/", "")
            .replace("/*MV_LOCATE*/", MV_LOCATE_PLAIN),
    };
    src.push_str(&body);
    Some(src)
}
