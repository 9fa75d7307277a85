"""Reference logits for config variants of the HF fixtures that no fixture covers.

For each variant, copies ``fixtures/hf/<fixture>`` (a single ``model.safetensors``) to a
temporary directory with config fields overridden and some tensors dropped, loads it with
transformers (float32, eager attention), runs the fixture's reference tokens in one
full-sequence causal forward pass (``use_cache=False``) and writes ``<name>.json``: ``source``,
``config_overrides``, ``drop_tensors``, ``tokens``, ``logits`` (one row per position, shortest
decimal that round-trips the f32), ``generator``. Used by ``tests/config_variants.rs`` and
``tests/wgpu_fixtures.rs``. Deterministic; run from this directory:

    python3 make_variant_references.py

(transformers 5.24.0, torch 2.15 CPU, as the fixtures.)
"""

import json
import os
import shutil
import tempfile

import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "..", "..", "fixtures", "hf")

VARIANTS = [
    # Mixtral with a sliding window shorter than the 16 reference tokens.
    ("mixtral_sliding_window_4", "mixtral", {"sliding_window": 4}, []),
    # OLMoE with q/k/v clamping that is active (values beyond ±0.5 are common).
    ("olmoe_clip_qkv_0.5", "olmoe", {"clip_qkv": 0.5}, []),
    # Mixtral with tied embeddings and no stored LM head: the embedding table is the head.
    ("mixtral_tied_embeddings", "mixtral", {"tie_word_embeddings": True}, ["lm_head.weight"]),
    # OLMoE with tied embeddings but a stored LM head that differs from the embedding table:
    # transformers 5.24 then leaves them untied, so the logits are the fixture's own.
    ("olmoe_tied_with_stored_head", "olmoe", {"tie_word_embeddings": True}, []),
    # Qwen3-MoE likewise: tied in config.json, but the stored LM head is the one used.
    ("qwen3_moe_tied_with_stored_head", "qwen3_moe_a", {"tie_word_embeddings": True}, []),
    # Qwen3-Next likewise (the hybrid decoder follows the same rule).
    ("qwen3_next_tied_with_stored_head", "qwen3_next", {"tie_word_embeddings": True}, []),
]


def f32_text(x):
    return np.format_float_positional(np.float32(x), unique=True, trim="-")


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    for name, fixture, overrides, drop in VARIANTS:
        src = os.path.join(FIXTURES, fixture)
        with tempfile.TemporaryDirectory() as tmp:
            for entry in os.listdir(src):
                shutil.copy(os.path.join(src, entry), tmp)
            with open(os.path.join(tmp, "config.json")) as f:
                config = json.load(f)
            config.update(overrides)
            with open(os.path.join(tmp, "config.json"), "w") as f:
                json.dump(config, f, indent=2)
            weights = os.path.join(tmp, "model.safetensors")
            tensors = load_file(weights)
            for tensor in drop:
                del tensors[tensor]
            save_file(tensors, weights, metadata={"format": "pt"})
            config = transformers.AutoConfig.from_pretrained(tmp)
            config._attn_implementation = "eager"
            model = transformers.AutoModelForCausalLM.from_pretrained(
                tmp, config=config, dtype=torch.float32
            ).eval()
            with open(os.path.join(src, "reference.json")) as f:
                tokens = json.load(f)["tokens"]
            with torch.no_grad():
                logits = model(torch.tensor([tokens]), use_cache=False).logits[0].float().numpy()
        rows = ",\n".join("[" + ",".join(f32_text(v) for v in row) + "]" for row in logits)
        header = {
            "source": f"fixtures/hf/{fixture}",
            "config_overrides": overrides,
            "drop_tensors": drop,
            "tokens": tokens,
            "generator": f"tests/data/make_variant_references.py, transformers {transformers.__version__}, torch {torch.__version__}, CPU float32 eager",
        }
        text = json.dumps(header, indent=1)[:-2] + ',\n "logits": [\n' + rows + "\n ]\n}\n"
        json.loads(text)
        tmp = os.path.join(HERE, name + ".json.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, os.path.join(HERE, name + ".json"))
        print("wrote", name + ".json")


if __name__ == "__main__":
    main()
