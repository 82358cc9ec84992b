"""Random-weight CLIP checkpoints in every format a user holds, and what OpenAI's code computes from them.

Writes tests/fixtures/models/ (small, committed):
  tiny-vit/, tiny-rn/   state_dict.pt (OpenAI keys, mixed fp16/fp32 as convert_weights leaves them),
                        openai.pt (a TorchScript archive like OpenAI's release files),
                        open_clip.safetensors, open_clip_wrapped.pt ({"state_dict": {"module.*"}}),
                        hf.safetensors (ViT only: Hugging Face CLIPModel names),
                        config.json (build_model's fields), reference.npz
  tiny-vocab/           a tiny ViT with the real 49,408-token vocabulary: state_dict.pt,
                        lines.txt and reference.npz whose tokens are clip.tokenize(lines)
  bad/                  files that must fail to load, each for one reason

reference.npz: pixels [N,3,R,R], tokens int64 [T,77], image_features, text_features (unnormalised,
as encode_image / encode_text return them), logits_per_image, logits_per_text, logit_scale (the raw
parameter). The reference runs in fp32 on the fp16-rounded weights, which is what clip.load does on CPU.

With --full [--only NAME] it writes tests/fixtures/big/NAME/ for the nine OpenAI architectures at full
size (gitignored; hundreds of MB each): openai.pt, state_dict.pt, reference.npz.
"""

import argparse
import io
import json
import math
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

import clip
from clip.model import CLIP, convert_weights

ROOT = Path(__file__).resolve().parents[1] / "fixtures"

TINY = {
    "tiny-vit": dict(embed_dim=32, image_resolution=32, vision_layers=2, vision_width=128,
                     vision_patch_size=8, context_length=77, vocab_size=1000,
                     transformer_width=128, transformer_heads=2, transformer_layers=2),
    "tiny-rn": dict(embed_dim=32, image_resolution=64, vision_layers=(1, 1, 1, 1), vision_width=8,
                    vision_patch_size=None, context_length=77, vocab_size=1000,
                    transformer_width=128, transformer_heads=2, transformer_layers=2),
    "tiny-vocab": dict(embed_dim=32, image_resolution=32, vision_layers=2, vision_width=128,
                       vision_patch_size=8, context_length=77, vocab_size=49408,
                       transformer_width=64, transformer_heads=1, transformer_layers=2),
}

# OpenAI's released architectures (what build_model infers from their checkpoints).
FULL = {
    "RN50": (1024, 224, (3, 4, 6, 3), 64, None, 512, 8),
    "RN101": (512, 224, (3, 4, 23, 3), 64, None, 512, 8),
    "RN50x4": (640, 288, (4, 6, 10, 6), 80, None, 640, 10),
    "RN50x16": (768, 384, (6, 8, 18, 8), 96, None, 768, 12),
    "RN50x64": (1024, 448, (3, 15, 36, 10), 128, None, 1024, 16),
    "ViT-B/32": (512, 224, 12, 768, 32, 512, 8),
    "ViT-B/16": (512, 224, 12, 768, 16, 512, 8),
    "ViT-L/14": (768, 224, 24, 1024, 14, 768, 12),
    "ViT-L/14@336px": (768, 336, 24, 1024, 14, 768, 12),
}

LINES = [
    "a photo of a cat.",
    "A diagram of the CLIP model, with two encoders!",
    "naïve café — “quoted” text &amp; entities",
    "",
    "an extremely long caption " + "that keeps going and going " * 8,
]


def full_config(name):
    embed, res, layers, width, patch, tw, th = FULL[name]
    return dict(embed_dim=embed, image_resolution=res, vision_layers=layers, vision_width=width,
                vision_patch_size=patch, context_length=77, vocab_size=49408,
                transformer_width=tw, transformer_heads=th, transformer_layers=12)


def build(config, seed):
    """A CLIP with OpenAI's init, then every parameter OpenAI leaves at a constant made random."""
    torch.manual_seed(seed)
    model = CLIP(**config).eval()
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.normal_(1.0, 0.1)
                module.bias.normal_(0.0, 0.1)
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.normal_(1.0, 0.1)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
            elif isinstance(module, torch.nn.Linear) and module.bias is not None:
                module.bias.normal_(0.0, 0.02)
            elif isinstance(module, torch.nn.MultiheadAttention):
                module.in_proj_bias.normal_(0.0, 0.02)
                module.out_proj.bias.normal_(0.0, 0.02)
        model.logit_scale.fill_(math.log(1 / 0.05))
    # OpenAI ships fp16 weights: round them as convert_weights does, keep the mixed copy to save.
    convert_weights(model)
    if config["vocab_size"] > 10000:
        # Keep big-vocabulary fixtures small: the token embedding in fp16 too (a file may hold it so).
        model.token_embedding.half()
    mixed = {k: v.clone() for k, v in model.state_dict().items()}
    model.float()
    return model, mixed


def random_tokens(vocab, rows_lengths, context=77, seed=0):
    """Token rows with SOT/EOT as clip.tokenize writes them; a row may hold a second EOT."""
    g = torch.Generator().manual_seed(seed)
    sot, eot = vocab - 2, vocab - 1
    rows = []
    for length, second_eot in rows_lengths:
        row = torch.zeros(context, dtype=torch.long)
        row[:length] = torch.randint(1, vocab - 2, (length,), generator=g)
        row[0] = sot
        row[length - 1] = eot
        if second_eot is not None:
            row[second_eot] = eot
        rows.append(row)
    return torch.stack(rows)


def reference(model, pixels, tokens):
    with torch.no_grad():
        image = model.encode_image(pixels)
        text = model.encode_text(tokens)
        per_image, per_text = model(pixels, tokens)
    return dict(pixels=pixels.numpy(), tokens=tokens.numpy(), image_features=image.numpy(),
                text_features=text.numpy(), logits_per_image=per_image.numpy(),
                logits_per_text=per_text.numpy(),
                logit_scale=np.array([model.logit_scale.item()], dtype=np.float32))


def save_torchscript(model, mixed, pixels, tokens, path):
    """A TorchScript archive like OpenAI's: a traced CLIP whose parameters are the mixed fp16 ones."""
    with torch.no_grad():
        traced = torch.jit.trace(model, (pixels, tokens), check_trace=False)
        named = dict(traced.named_parameters())
        named.update(dict(traced.named_buffers()))
        for key, value in mixed.items():
            if key in named:
                named[key].data = value.clone()
    torch.jit.save(traced, str(path))


def check_clip_load(path, expected):
    """clip.load(jit=False) reads the archive's state dict and builds the model: it must agree."""
    model, _ = clip.load(str(path), device="cpu", jit=False)
    with torch.no_grad():
        image = model.encode_image(torch.from_numpy(expected["pixels"]))
        text = model.encode_text(torch.from_numpy(expected["tokens"]))
    assert np.allclose(image.numpy(), expected["image_features"], atol=1e-5), path
    assert np.allclose(text.numpy(), expected["text_features"], atol=1e-5), path


def to_hf(state, config):
    """OpenAI names → Hugging Face CLIPModel names (q/k/v split, projections transposed)."""
    out = {}
    width, vwidth = config["transformer_width"], config["vision_width"]

    def layers(src, dst, n, w):
        for i in range(n):
            s, d = f"{src}{i}.", f"{dst}{i}."
            for suffix in ["weight", "bias"]:
                for part, chunk in zip(["q_proj", "k_proj", "v_proj"],
                                       state[f"{s}attn.in_proj_{suffix}"].split(w)):
                    out[f"{d}self_attn.{part}.{suffix}"] = chunk.clone()
                for a, b in [("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"),
                             ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")]:
                    out[f"{d}{b}.{suffix}"] = state[f"{s}{a}.{suffix}"]

    layers("transformer.resblocks.", "text_model.encoder.layers.", config["transformer_layers"], width)
    layers("visual.transformer.resblocks.", "vision_model.encoder.layers.", config["vision_layers"], vwidth)
    out["text_model.embeddings.token_embedding.weight"] = state["token_embedding.weight"]
    out["text_model.embeddings.position_embedding.weight"] = state["positional_embedding"]
    out["text_model.final_layer_norm.weight"] = state["ln_final.weight"]
    out["text_model.final_layer_norm.bias"] = state["ln_final.bias"]
    out["text_projection.weight"] = state["text_projection"].t().contiguous()
    out["vision_model.embeddings.class_embedding"] = state["visual.class_embedding"]
    out["vision_model.embeddings.patch_embedding.weight"] = state["visual.conv1.weight"]
    out["vision_model.embeddings.position_embedding.weight"] = state["visual.positional_embedding"]
    out["vision_model.pre_layrnorm.weight"] = state["visual.ln_pre.weight"]
    out["vision_model.pre_layrnorm.bias"] = state["visual.ln_pre.bias"]
    out["vision_model.post_layernorm.weight"] = state["visual.ln_post.weight"]
    out["vision_model.post_layernorm.bias"] = state["visual.ln_post.bias"]
    out["visual_projection.weight"] = state["visual.proj"].t().contiguous()
    out["logit_scale"] = state["logit_scale"]
    return {k: v.contiguous() for k, v in out.items()}


def check_hf(hf_state, config, expected):
    """transformers' CLIPModel (QuickGELU) with these tensors computes the reference features."""
    from transformers import CLIPConfig, CLIPModel

    vw, tw = config["vision_width"], config["transformer_width"]
    hf_config = CLIPConfig(
        text_config=dict(vocab_size=config["vocab_size"], hidden_size=tw, intermediate_size=4 * tw,
                         num_attention_heads=config["transformer_heads"],
                         num_hidden_layers=config["transformer_layers"],
                         max_position_embeddings=config["context_length"], hidden_act="quick_gelu",
                         layer_norm_eps=1e-5, projection_dim=config["embed_dim"],
                         eos_token_id=config["vocab_size"] - 1, bos_token_id=config["vocab_size"] - 2),
        vision_config=dict(hidden_size=vw, intermediate_size=4 * vw, num_attention_heads=vw // 64,
                           num_hidden_layers=config["vision_layers"],
                           image_size=config["image_resolution"], patch_size=config["vision_patch_size"],
                           hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=config["embed_dim"]),
        projection_dim=config["embed_dim"])
    model = CLIPModel(hf_config).eval()
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in hf_state.items()}, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    assert not missing and not unexpected, (missing, unexpected)

    def features(out):
        return out if torch.is_tensor(out) else out.pooler_output

    with torch.no_grad():
        image = features(model.get_image_features(pixel_values=torch.from_numpy(expected["pixels"])))
        text = features(model.get_text_features(input_ids=torch.from_numpy(expected["tokens"])))
    assert np.allclose(image.numpy(), expected["image_features"], atol=1e-4), "hf image"
    assert np.allclose(text.numpy(), expected["text_features"], atol=1e-4), "hf text"


def save_safetensors(state, path):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def tiny(name, seed):
    config = TINY[name]
    out = ROOT / "models" / name
    out.mkdir(parents=True, exist_ok=True)
    model, mixed = build(config, seed)
    res = config["image_resolution"]
    pixels = torch.randn(3, 3, res, res, generator=torch.Generator().manual_seed(seed + 1))
    if name == "tiny-vocab":
        (out / "lines.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
        tokens = clip.tokenize(LINES, truncate=True)
    else:
        # short; full length (EOT last); two EOTs (pooling takes the first); medium
        tokens = random_tokens(config["vocab_size"], [(4, None), (77, None), (12, 5), (30, None)],
                               seed=seed + 2)
    expected = reference(model, pixels, tokens)
    np.savez(out / "reference.npz", **expected)
    torch.save(mixed, out / "state_dict.pt")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if name == "tiny-vocab":
        return
    save_torchscript(model, mixed, pixels, tokens, out / "openai.pt")
    check_clip_load(out / "openai.pt", expected)
    save_safetensors(mixed, out / "open_clip.safetensors")
    wrapped = {"epoch": 3, "name": "tiny", "state_dict": {"module." + k: v.float() for k, v in mixed.items()}}
    torch.save(wrapped, out / "open_clip_wrapped.pt")
    if config["vision_patch_size"] is not None:
        hf = to_hf(mixed, config)
        check_hf(hf, config, expected)
        save_safetensors(hf, out / "hf.safetensors")


def bad():
    """Each file fails for one reason; the Rust tests check the error names the file and the reason."""
    src = ROOT / "models" / "tiny-vit"
    out = ROOT / "models" / "bad"
    out.mkdir(parents=True, exist_ok=True)
    good = (src / "state_dict.pt").read_bytes()
    (out / "truncated.pt").write_bytes(good[: len(good) // 2])
    # Garble the pickle inside the zip (not a storage, whose bytes carry no structure).
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("data.pkl"))
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    corrupt = bytearray(good)
    corrupt[start + 2: start + 40] = bytes(range(200, 238))
    (out / "corrupt.pt").write_bytes(bytes(corrupt))
    state = torch.load(src / "state_dict.pt", weights_only=True)
    torch.save({k: v for k, v in state.items() if k != "ln_final.weight"}, out / "missing_key.pt")
    wrong = dict(state)
    pos = wrong["visual.positional_embedding"]
    wrong["visual.positional_embedding"] = torch.cat([pos, pos[:1]])
    torch.save(wrong, out / "wrong_shape.pt")
    (out / "not_a_checkpoint.txt").write_text("This is a text file, not a CLIP checkpoint.\n")
    (out / "random.bin").write_bytes(np.random.default_rng(7).bytes(4096))
    save_safetensors({k: v for k, v in state.items() if k != "text_projection"},
                     out / "missing_key.safetensors")


def full(name, seed=10):
    config = full_config(name)
    out = ROOT / "big" / name.replace("/", "-")
    out.mkdir(parents=True, exist_ok=True)
    model, mixed = build(config, seed)
    res = config["image_resolution"]
    pixels = torch.randn(2, 3, res, res, generator=torch.Generator().manual_seed(seed + 1))
    tokens = clip.tokenize(LINES[:3])
    expected = reference(model, pixels, tokens)
    save_torchscript(model, mixed, pixels, tokens, out / "openai.pt")
    torch.save(mixed, out / "state_dict.pt")
    np.savez(out / "reference.npz", **expected)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="write the full-size fixtures instead")
    parser.add_argument("--only", action="append", help="with --full: only these architectures")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    if args.full:
        for name in args.only or FULL:
            full(name)
        return
    for seed, name in enumerate(TINY):
        tiny(name, seed * 100)
    bad()
    print(f"wrote {ROOT / 'models'}", file=sys.stderr)


if __name__ == "__main__":
    main()
