"""open_clip's model configurations and pretrained tags, as data for `--weights MODEL/TAG`.

Writes crates/clip-model/data/open_clip_models.json from the installed open-clip-torch package
(its model_configs/*.json and pretrained.py, version recorded): every pretrained tag of the
architectures this project builds — OpenAI's CLIP transformer/ResNet towers with open_clip's
head widths, MLP ratios and activation — with the hub repository (or URL) of its weights, its
`quick_gelu` override and preprocessing. Architectures built from timm or Hugging Face towers,
CoCa, SigLIP (logit bias), and towers with options not built here (attentional pooling, no
ln_pre, other pooling, layer scale, custom text) are left out; `xtask list-models` prints what
is in.

    .venv/bin/python tests/reference/gen_open_clip_models.py
"""

import json
from pathlib import Path

import open_clip
from open_clip.factory import _MODEL_CONFIGS

OUT = Path(__file__).resolve().parents[2] / "crates" / "clip-model" / "data" / "open_clip_models.json"
VISION = {"image_size", "layers", "width", "patch_size", "head_width", "mlp_ratio"}
TEXT = {"width", "context_length", "vocab_size", "layers", "heads"}
TOP = {"embed_dim", "vision_cfg", "text_cfg", "quick_gelu", "custom_text"}


def supported(cfg):
    if set(cfg) - TOP or cfg.get("custom_text"):
        return False
    vision, text = cfg["vision_cfg"], cfg["text_cfg"]
    if set(vision) - VISION or set(text) - TEXT:
        return False
    return isinstance(vision.get("image_size"), int)


def main():
    models = {name: {k: v for k, v in cfg.items() if k != "custom_text"}
              for name, cfg in sorted(_MODEL_CONFIGS.items()) if supported(cfg)}
    pretrained = []
    for model, tag in open_clip.list_pretrained():
        if model not in models:
            continue
        p = open_clip.get_pretrained_cfg(model, tag)
        pretrained.append({
            "model": model, "tag": tag,
            "hf_hub": p.get("hf_hub", "").rstrip("/"), "url": p.get("url", ""),
            "quick_gelu": bool(p.get("quick_gelu", models[model].get("quick_gelu", False))),
            "mean": list(p.get("mean", ())), "std": list(p.get("std", ())),
            "resize_mode": p.get("resize_mode", "shortest"),
        })
    data = {"open_clip_version": open_clip.__version__, "models": models, "pretrained": pretrained}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{OUT}: {len(models)} architectures, {len(pretrained)} pretrained tags")


if __name__ == "__main__":
    main()
