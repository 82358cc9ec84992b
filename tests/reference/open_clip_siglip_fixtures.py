"""A random-weight SigLIP as open_clip builds it, and what open_clip's own code computes from it.

Writes tests/fixtures/models/open-clip-siglip/ (small, committed), laid out as a `timm/ViT-*-SigLIP`
hub repository: open_clip_model.safetensors (a CustomTextCLIP: a timm ViT trunk with attention
pooling under visual.trunk.*, the text tower under text.*), open_clip_config.json
({"model_cfg", "preprocess_cfg"} as push_to_hub writes them) — its tokenizer is the
SentencePiece fixture tokenizer/siglip of hf_tokenizer_fixtures.py (run first), which the tests
put beside it — and reference.npz: pixels, tokens (open_clip's HFTokenizer on CAPTIONS, context 16), image_features
and text_features unnormalised, logits_per_image (exp(t) cos + b).

The trunk is a tiny timm ViT registered here (patch 8 at 32 px, width 128, 2 heads, MLP 192, no
class token, global_pool "map", timm's exact GELU and eps 1e-6) — a name the generated table does
not know, so its defaults are what a user's own trunk gets; the text tower has 4 heads of 16, tanh
GELU (act_kwargs), eps 1e-6, no causal mask, last-token pooling and a biased projection, as
open_clip's ViT-B-16-SigLIP2 config. Every parameter is spread with noise so each matters.
"""

import json
from pathlib import Path

import numpy as np
import open_clip
import torch
from open_clip.model import CustomTextCLIP
from open_clip.tokenizer import HFTokenizer
from safetensors.torch import save_file
from timm.models import register_model
from timm.models.vision_transformer import _create_vision_transformer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OUT = FIXTURES / "models" / "open-clip-siglip"
CAPTIONS = ["a photo of a cat", "A Diagram, of the model!", "two dogs_playing in snow", ""]

MODEL_CFG = {
    "embed_dim": 128,
    "init_logit_bias": -10,
    "custom_text": True,
    "vision_cfg": {"image_size": 32, "timm_model_name": "vit_tiny_test_siglip",
                   "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": "none"},
    "text_cfg": {"context_length": 16, "vocab_size": 1000, "hf_tokenizer_name": "timm/ViT-B-16-SigLIP",
                 "tokenizer_kwargs": {"clean": "canonicalize"}, "width": 64, "heads": 4,
                 "layers": 2, "no_causal_mask": True, "proj_bias": True, "pool_type": "last",
                 "norm_kwargs": {"eps": 1e-6}, "act_kwargs": {"approximate": "tanh"}},
}


@register_model
def vit_tiny_test_siglip(pretrained=False, **kwargs):
    args = dict(img_size=32, patch_size=8, embed_dim=128, depth=2, num_heads=2, mlp_ratio=1.5,
                class_token=False, global_pool="map")
    return _create_vision_transformer("vit_tiny_test_siglip", pretrained=False,
                                      **dict(args, **kwargs))


def main():
    torch.manual_seed(17)
    cfg = {k: v for k, v in MODEL_CFG.items() if k != "custom_text"}
    model = CustomTextCLIP(**cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * (0.3 if "logit" in name else 0.05))
    OUT.mkdir(parents=True, exist_ok=True)
    tokenizer = FIXTURES / "tokenizer" / "siglip"
    tokens = HFTokenizer(str(tokenizer), context_length=16, clean="canonicalize")(CAPTIONS)
    pixels = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(18))
    with torch.no_grad():
        image = model.encode_image(pixels)
        text = model.encode_text(tokens)
        cos = torch.nn.functional.normalize(image, dim=-1) @ torch.nn.functional.normalize(text, dim=-1).T
        logits = model.logit_scale.exp() * cos + model.logit_bias
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              OUT / "open_clip_model.safetensors")
    config = {"model_cfg": MODEL_CFG,
              "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bicubic",
                                 "resize_mode": "squash"},
              "open_clip_version": open_clip.__version__}
    (OUT / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    np.savez_compressed(OUT / "reference.npz", pixels=pixels.numpy(), tokens=tokens.numpy(),
                        image_features=image.numpy(), text_features=text.numpy(),
                        logits_per_image=logits.numpy())
    print("wrote", OUT)


if __name__ == "__main__":
    main()
