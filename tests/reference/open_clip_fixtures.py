"""Random-weight open_clip models with the options of its large towers, and what open_clip's own
code computes from them.

Writes tests/fixtures/models/open-clip-gelu-96/ (small, committed), laid out as an hf-hub
repository: open_clip_model.safetensors, open_clip_config.json ({"model_cfg", "preprocess_cfg"}
as open_clip's push_to_hub writes it), reference.npz (pixels, tokens, image_features,
text_features unnormalised, logit_scale).

The model is a tiny ViT with the three options ViT-H/14, ViT-g/14 and ViT-bigG/14 use and OpenAI's
nine do not: exact GELU (quick_gelu false), a vision head width other than 64 (96: two heads where
the shapes alone suggest three) and an MLP ratio other than 4 (4.9231, bigG's: int(192 · 4.9231) =
945 hidden units). Built by open_clip.model.CLIP from
the open-clip-torch package (version recorded in the config's "open_clip_version").

Also writes tests/fixtures/preprocess/open_clip.npz: open_clip.image_transform (eval) at 224 of
photo.png, tall.png and portrait.png (written beside it; lossless: the JPEG decoders differ, see
preprocess_parity.rs) under the two preprocess_cfg variants its tags use besides OpenAI's —
mean/std 0.5 (ViT-L-14 laion2b_s32b_b82k, SigLIP) and resize_mode "squash" (DFN) — and OpenAI's
own, as `half/NAME`, `squash/NAME` and `shortest/NAME` [3, 224, 224]. Squashing tall.png and
shrinking portrait.png take Pillow 13's vertical-first pass order.
"""

import json
import sys
from pathlib import Path

import numpy as np
import open_clip
import torch
from open_clip.model import CLIP
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "open-clip-gelu-96"

MODEL_CFG = {
    "embed_dim": 48,
    "quick_gelu": False,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 192, "head_width": 96,
                   "mlp_ratio": 4.9231, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 1000, "width": 64, "heads": 2, "layers": 2},
}


def main():
    torch.manual_seed(7)
    model = CLIP(**MODEL_CFG).eval()
    # open_clip initialises some weights to zero or constants; spread them so every tensor
    # matters to the features.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name != "logit_scale":
                p.add_(torch.randn_like(p) * 0.02)
    mlp = model.visual.transformer.resblocks[0].mlp.c_fc.weight.shape[0]
    assert mlp == 945, mlp
    pixels = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(8))
    tokens = torch.zeros(4, 77, dtype=torch.long)
    g = torch.Generator().manual_seed(9)
    for row, length in enumerate([4, 77, 12, 30]):
        tokens[row, :length] = torch.randint(1, 998, (length,), generator=g)
        tokens[row, length - 1] = 999  # the EOT: the largest id, where open_clip pools
    with torch.no_grad():
        image = model.encode_image(pixels)
        text = model.encode_text(tokens)
    OUT.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "attn_mask"}
    save_file(state, str(OUT / "open_clip_model.safetensors"))
    config = {"model_cfg": MODEL_CFG,
              "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                                 "std": [0.26862954, 0.26130258, 0.27577711]},
              "open_clip_version": open_clip.__version__}
    (OUT / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    np.savez(OUT / "reference.npz", pixels=pixels.numpy(), tokens=tokens.numpy(),
             image_features=image.numpy(), text_features=text.numpy(),
             logit_scale=np.array([model.logit_scale.item()], dtype=np.float32))
    print(f"wrote {OUT}", file=sys.stderr)
    transforms()


def transforms():
    from PIL import Image

    images = Path(__file__).resolve().parents[1] / "fixtures" / "images"
    variants = {
        "half": open_clip.image_transform(224, is_train=False, mean=(0.5,) * 3, std=(0.5,) * 3),
        "squash": open_clip.image_transform(224, is_train=False, resize_mode="squash"),
    }
    # A portrait whose height shrinks by more than twice the width's pixels (240 x 700 → 224 x
    # 653): Pillow 13 runs the vertical pass first there, in OpenAI's own mode too.
    portrait = Image.open(images / "photo.png").convert("RGB").resize((240, 700), Image.BICUBIC)
    portrait.save(images.parent / "preprocess" / "portrait.png")
    variants["shortest"] = open_clip.image_transform(224, is_train=False)
    out = {}
    for name, path in [("photo.png", images / "photo.png"), ("tall.png", images / "tall.png"),
                       ("portrait.png", images.parent / "preprocess" / "portrait.png")]:
        image = Image.open(path)
        for variant, transform in variants.items():
            out[f"{variant}/{name}"] = transform(image).numpy()
    path = images.parent / "preprocess" / "open_clip.npz"
    np.savez_compressed(path, **out)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
