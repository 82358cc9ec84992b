"""open_clip's model configurations and pretrained tags, as data for `--weights MODEL/TAG`.

Writes crates/clip-model/data/open_clip_models.json from the installed open-clip-torch package
(its model_configs/*.json and pretrained.py, version recorded): every pretrained tag of the
architectures this project builds — OpenAI's CLIP transformer/ResNet towers with open_clip's
head widths, MLP ratios and activation — with the hub repository (or URL) of its weights, its
`quick_gelu` override and preprocessing; and SigLIP as open_clip builds it (a timm ViT trunk
with attention pooling, its custom text tower), with each timm trunk's heads, activation and
norm epsilon read from the installed timm (`timm_trunks`). Architectures built from other timm
or Hugging Face towers, CoCa, and towers with options not built here (no ln_pre, other pooling,
layer scale) are left out; `xtask list-models` prints what is in.

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


SIGLIP_TOP = {"embed_dim", "vision_cfg", "text_cfg", "custom_text", "init_logit_bias"}
SIGLIP_VISION = {"image_size", "timm_model_name", "timm_model_pretrained", "timm_pool", "timm_proj"}
SIGLIP_TEXT = {"context_length", "vocab_size", "hf_tokenizer_name", "tokenizer_kwargs", "width",
               "heads", "layers", "mlp_ratio", "no_causal_mask", "proj_bias", "pool_type",
               "norm_kwargs", "act_kwargs"}


def supported_siglip(cfg):
    """SigLIP as open_clip builds it: a timm ViT trunk pooled by attention, no projection, and a
    custom text tower (unmasked, last-token pooling, biased projection)."""
    if set(cfg) - SIGLIP_TOP or not cfg.get("custom_text") or "init_logit_bias" not in cfg:
        return False
    vision, text = cfg["vision_cfg"], cfg["text_cfg"]
    return (not set(vision) - SIGLIP_VISION and not set(text) - SIGLIP_TEXT
            and vision.get("timm_pool") == "map" and vision.get("timm_proj") == "none"
            and isinstance(vision.get("image_size"), int)
            and text.get("pool_type") == "last" and text.get("no_causal_mask"))


def timm_trunk(name):
    """What a timm ViT's weights cannot tell: its heads and activation (built on the meta device)."""
    import timm
    import torch
    with torch.device("meta"):
        trunk = timm.create_model(name, pretrained=False, num_classes=0)
    block = trunk.blocks[0]
    act = type(block.mlp.act).__name__
    approximate = getattr(block.mlp.act, "approximate", "none")
    assert act in ("GELU", "GELUTanh"), (name, act)
    return {"heads": block.attn.num_heads,
            "activation": "gelu_tanh" if act == "GELUTanh" or approximate == "tanh" else "gelu",
            "norm_eps": trunk.norm.eps}


def main():
    models = {name: {k: v for k, v in cfg.items() if k != "custom_text"}
              for name, cfg in sorted(_MODEL_CONFIGS.items()) if supported(cfg)}
    siglip = {name: cfg for name, cfg in sorted(_MODEL_CONFIGS.items()) if supported_siglip(cfg)}
    models.update(siglip)
    timm_trunks = {cfg["vision_cfg"]["timm_model_name"]: None for cfg in siglip.values()}
    timm_trunks = {name: timm_trunk(name) for name in sorted(timm_trunks)}
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
    import timm
    data = {"open_clip_version": open_clip.__version__, "timm_version": timm.__version__,
            "models": models, "timm_trunks": timm_trunks, "pretrained": pretrained}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{OUT}: {len(models)} architectures ({len(siglip)} SigLIP), {len(pretrained)} pretrained "
          f"tags, {len(timm_trunks)} timm trunks")


if __name__ == "__main__":
    main()
