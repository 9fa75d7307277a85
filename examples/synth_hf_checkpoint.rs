//! Writes a large synthetic Hugging Face checkpoint — Qwen3-MoE-shaped, bf16, sharded
//! safetensors with `model.safetensors.index.json`, per-expert tensors, random weights — while
//! holding only a small buffer in memory. It exists to measure `floe convert` on a model far
//! larger than any fixture:
//!
//! ```text
//! cargo run --release --example synth_hf_checkpoint -- --out /tmp/synth-hf --size-gb 4
//! /usr/bin/time -v target/release/floe convert /tmp/synth-hf /tmp/synth-floe
//! ```
//!
//! The shapes default to Qwen3-30B-A3B's (hidden 2048, 128 experts of intermediate 768, 32 query
//! and 4 key-value heads of 128) with as many layers as fit the requested size, and the 512-token
//! vocabulary of the committed fixtures, whose tokenizer files are copied so the result is a
//! complete checkpoint.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::json;

/// Write a large synthetic Qwen3-MoE checkpoint in HF's sharded safetensors layout.
#[derive(Parser)]
struct Args {
    /// Output directory (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Approximate total size in GB (10^9 bytes); sets the number of layers.
    #[arg(long, default_value_t = 4.0)]
    size_gb: f64,
    /// Routed experts per layer.
    #[arg(long, default_value_t = 128)]
    experts: u64,
    /// Hidden size.
    #[arg(long, default_value_t = 2048)]
    hidden: u64,
    /// Intermediate size of each expert.
    #[arg(long, default_value_t = 768)]
    moe_intermediate: u64,
    /// Approximate shard size in GB.
    #[arg(long, default_value_t = 1.0)]
    shard_gb: f64,
}

/// One tensor to write: name, shape, and how its values are made.
struct Tensor {
    name: String,
    shape: Vec<u64>,
    fill: Fill,
}

#[derive(Clone, Copy)]
enum Fill {
    /// Random bf16 values of magnitude about 2^-7 .. 2^-3.
    Random,
    /// All 1.0 (RMSNorm weights).
    Ones,
}

impl Tensor {
    fn bytes(&self) -> u64 {
        self.shape.iter().product::<u64>() * 2
    }
}

const VOCAB: u64 = 512;
const HEADS: u64 = 32;
const KV_HEADS: u64 = 4;
const HEAD_DIM: u64 = 128;

fn layer_tensors(layer: u64, args: &Args) -> Vec<Tensor> {
    let (h, i) = (args.hidden, args.moe_intermediate);
    let p = format!("model.layers.{layer}");
    let t = |name: String, shape: Vec<u64>, fill| Tensor { name, shape, fill };
    let mut out = vec![
        t(format!("{p}.input_layernorm.weight"), vec![h], Fill::Ones),
        t(
            format!("{p}.post_attention_layernorm.weight"),
            vec![h],
            Fill::Ones,
        ),
        t(
            format!("{p}.self_attn.q_proj.weight"),
            vec![HEADS * HEAD_DIM, h],
            Fill::Random,
        ),
        t(
            format!("{p}.self_attn.k_proj.weight"),
            vec![KV_HEADS * HEAD_DIM, h],
            Fill::Random,
        ),
        t(
            format!("{p}.self_attn.v_proj.weight"),
            vec![KV_HEADS * HEAD_DIM, h],
            Fill::Random,
        ),
        t(
            format!("{p}.self_attn.o_proj.weight"),
            vec![h, HEADS * HEAD_DIM],
            Fill::Random,
        ),
        t(
            format!("{p}.self_attn.q_norm.weight"),
            vec![HEAD_DIM],
            Fill::Ones,
        ),
        t(
            format!("{p}.self_attn.k_norm.weight"),
            vec![HEAD_DIM],
            Fill::Ones,
        ),
        t(
            format!("{p}.mlp.gate.weight"),
            vec![args.experts, h],
            Fill::Random,
        ),
    ];
    for e in 0..args.experts {
        out.push(t(
            format!("{p}.mlp.experts.{e}.gate_proj.weight"),
            vec![i, h],
            Fill::Random,
        ));
        out.push(t(
            format!("{p}.mlp.experts.{e}.up_proj.weight"),
            vec![i, h],
            Fill::Random,
        ));
        out.push(t(
            format!("{p}.mlp.experts.{e}.down_proj.weight"),
            vec![h, i],
            Fill::Random,
        ));
    }
    out
}

/// A fast deterministic generator of bf16 bit patterns (xorshift64*).
struct Bf16Random(u64);

impl Bf16Random {
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
            for (k, pair) in chunk.chunks_mut(2).enumerate() {
                let r = (bits >> (16 * k)) as u16;
                // sign, exponent 120..=123 (2^-7 .. 2^-4 scale), random 7-bit mantissa.
                let value = (r & 0x8000) | ((120 + ((r >> 7) & 3)) << 7) | (r & 0x7f);
                pair.copy_from_slice(&value.to_le_bytes()[..pair.len()]);
            }
        }
    }
}

fn write_shard(path: &Path, tensors: &[Tensor], random: &mut Bf16Random) -> std::io::Result<()> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut at = 0u64;
    for t in tensors {
        header.insert(
            t.name.clone(),
            json!({"dtype": "BF16", "shape": t.shape, "data_offsets": [at, at + t.bytes()]}),
        );
        at += t.bytes();
    }
    let mut text = serde_json::to_vec(&header)?;
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    out.write_all(&(text.len() as u64).to_le_bytes())?;
    out.write_all(&text)?;
    let mut buf = vec![0u8; 1 << 20];
    for t in tensors {
        let mut left = t.bytes() as usize;
        while left > 0 {
            let n = left.min(buf.len());
            match t.fill {
                Fill::Random => random.fill(&mut buf[..n]),
                Fill::Ones => buf[..n]
                    .chunks_mut(2)
                    .for_each(|p| p.copy_from_slice(&0x3f80u16.to_le_bytes())),
            }
            out.write_all(&buf[..n])?;
            left -= n;
        }
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(!args.out.exists(), "{} already exists", args.out.display());
    let h = args.hidden;
    let per_layer: u64 = layer_tensors(0, &args).iter().map(Tensor::bytes).sum();
    let layers = ((args.size_gb * 1e9 / per_layer as f64).round() as u64).max(1);
    let mut tensors = vec![Tensor {
        name: "model.embed_tokens.weight".into(),
        shape: vec![VOCAB, h],
        fill: Fill::Random,
    }];
    for layer in 0..layers {
        tensors.extend(layer_tensors(layer, &args));
    }
    tensors.push(Tensor {
        name: "model.norm.weight".into(),
        shape: vec![h],
        fill: Fill::Ones,
    });
    tensors.push(Tensor {
        name: "lm_head.weight".into(),
        shape: vec![VOCAB, h],
        fill: Fill::Random,
    });
    let total: u64 = tensors.iter().map(Tensor::bytes).sum();

    // Greedy shards of about shard_gb each.
    let shard_bytes = (args.shard_gb * 1e9) as u64;
    let mut shards: Vec<Vec<Tensor>> = vec![Vec::new()];
    let mut in_shard = 0u64;
    for t in tensors {
        if in_shard > 0 && in_shard + t.bytes() > shard_bytes {
            shards.push(Vec::new());
            in_shard = 0;
        }
        in_shard += t.bytes();
        shards.last_mut().expect("one shard").push(t);
    }
    std::fs::create_dir_all(&args.out)?;
    let count = shards.len();
    let mut weight_map = serde_json::Map::new();
    let mut random = Bf16Random(0x9e37_79b9_7f4a_7c15);
    for (n, shard) in shards.iter().enumerate() {
        let name = format!("model-{:05}-of-{count:05}.safetensors", n + 1);
        for t in shard {
            weight_map.insert(t.name.clone(), json!(name));
        }
        write_shard(&args.out.join(&name), shard, &mut random)?;
        eprintln!("wrote {name}");
    }
    let index = json!({"metadata": {"total_size": total}, "weight_map": weight_map});
    std::fs::write(
        args.out.join("model.safetensors.index.json"),
        serde_json::to_vec_pretty(&index)?,
    )?;
    let config = json!({
        "architectures": ["Qwen3MoeForCausalLM"],
        "model_type": "qwen3_moe",
        "dtype": "bfloat16",
        "hidden_size": h,
        "intermediate_size": 6144,
        "moe_intermediate_size": args.moe_intermediate,
        "num_experts": args.experts,
        "num_experts_per_tok": 8,
        "num_hidden_layers": layers,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "vocab_size": VOCAB,
        "decoder_sparse_step": 1,
        "mlp_only_layers": [],
        "norm_topk_prob": true,
        "attention_bias": false,
        "tie_word_embeddings": false,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0},
        "max_position_embeddings": 4096,
        "hidden_act": "silu",
        "bos_token_id": 509,
        "eos_token_id": 511,
        "pad_token_id": 509,
    });
    std::fs::write(
        args.out.join("config.json"),
        serde_json::to_vec_pretty(&config)?,
    )?;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hf/qwen3_moe_a");
    for name in [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        std::fs::copy(fixture.join(name), args.out.join(name))?;
    }
    println!(
        "{}: qwen3_moe, {layers} layers × {} experts ([{}, {h}] gate/up, [{h}, {}] down), {count} shards, {:.2} GB",
        args.out.display(),
        args.experts,
        args.moe_intermediate,
        args.moe_intermediate,
        total as f64 / 1e9
    );
    Ok(())
}
