"""A random-weight SigLIP model and what Hugging Face's SiglipModel computes from it.

Writes tests/fixtures/models/siglip-tiny/ (small, committed), laid out as a hub repository of
`google/siglip-*`: model.safetensors and config.json as `save_pretrained` writes them, and
reference.npz (pixels, tokens, image_features and text_features unnormalised as
get_image_features / get_text_features return them, logits_per_image, logit_scale, logit_bias;
and zero-shot as a user runs it: images/exact.png through SiglipImageProcessor as
image_pixels, "a photo of a {label}." for four labels through open_clip's HFTokenizer with
tokenizer/siglip (hf_tokenizer_fixtures.py, run first) as prompt_tokens, and zero_shot, the
sigmoid of the logits).

The towers are tiny but keep every SigLIP option a shape cannot tell: 4 heads of width 16 where
the width suggests 1, an MLP width other than 4x (96), tanh-GELU, LayerNorm eps 1e-6. Every
parameter is spread with noise (HF initialises biases to zero and norms to one) so each matters.
Built by transformers' SiglipModel (version recorded in config.json's "transformers_version").
"""

import sys
from pathlib import Path

import numpy as np
import torch
from open_clip.tokenizer import HFTokenizer
from PIL import Image
from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "siglip-tiny"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
IMAGE = FIXTURES / "images" / "exact.png"
TOKENIZER = FIXTURES / "tokenizer" / "siglip"
LABELS = ["cat", "dog", "red car", "a_snake"]
TEMPLATE = "a photo of a {}."

TOWER = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
         "num_attention_heads": 4, "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-6}


def main():
    torch.manual_seed(11)
    config = SiglipConfig(
        text_config={**TOWER, "vocab_size": 1000, "max_position_embeddings": 16},
        vision_config={**TOWER, "image_size": 32, "patch_size": 8},
    )
    model = SiglipModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * (0.3 if "logit" in name else 0.05))
    pixels = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(12))
    tokens = torch.randint(2, 1000, (4, 16), generator=torch.Generator().manual_seed(13))
    tokens[0, 5:] = 1  # a short text padded as SigLIP's tokenizer pads (id 1)
    with torch.no_grad():
        image = model.get_image_features(pixel_values=pixels)
        text = model.get_text_features(input_ids=tokens)
        logits = model(pixel_values=pixels, input_ids=tokens).logits_per_image
    # Zero-shot as a user runs it: an image file through SiglipImageProcessor (squash to 32,
    # mean/std 0.5), labels in a template through open_clip's HFTokenizer with the SentencePiece
    # fixture of hf_tokenizer_fixtures.py, probabilities the sigmoid of the logits.
    photo = Image.open(IMAGE).convert("RGB")
    processor = SiglipImageProcessor(size={"height": 32, "width": 32})
    image_pixels = processor(images=photo, return_tensors="pt").pixel_values
    prompts = [TEMPLATE.format(label) for label in LABELS]
    prompt_tokens = HFTokenizer(str(TOKENIZER), context_length=16, clean="canonicalize")(prompts)
    with torch.no_grad():
        zero_shot = torch.sigmoid(
            model(pixel_values=image_pixels, input_ids=prompt_tokens).logits_per_image)
    OUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(OUT, safe_serialization=True)
    np.savez_compressed(
        OUT / "reference.npz",
        pixels=pixels.numpy(),
        tokens=tokens.numpy(),
        image_features=image.numpy(),
        text_features=text.numpy(),
        logits_per_image=logits.numpy(),
        logit_scale=model.logit_scale.detach().numpy(),
        logit_bias=model.logit_bias.detach().numpy(),
        image_pixels=image_pixels.numpy(),
        prompt_tokens=prompt_tokens.numpy(),
        zero_shot=zero_shot.numpy(),
    )
    print("wrote", OUT)


# Hugging Face's published shapes (defaults of SiglipConfig are siglip-base-patch16-224's;
# siglip2-base-patch16-224 differs by its Gemma vocabulary), written on demand by --full DIR.
FULL = {
    "siglip-base-patch16-224": {},
    "siglip2-base-patch16-224": {"vocab_size": 256000},
}


def full(out_dir):
    """Full-size random-weight SiglipModels with the published shapes, not committed: DIR/NAME/
    model.safetensors, config.json and reference.npz (pixels, tokens, features, logits), for
    siglip_parity's on-demand test."""
    for name, text in FULL.items():
        torch.manual_seed(21)
        model = SiglipModel(SiglipConfig(text_config=text, vision_config={})).eval()
        vocab = model.config.text_config.vocab_size
        pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(22))
        tokens = torch.randint(2, vocab, (3, 64), generator=torch.Generator().manual_seed(23))
        tokens[0, 9:] = 1
        with torch.no_grad():
            image = model.get_image_features(pixel_values=pixels)
            text_features = model.get_text_features(input_ids=tokens)
            logits = model(pixel_values=pixels, input_ids=tokens).logits_per_image
        out = out_dir / name
        model.save_pretrained(out, safe_serialization=True)
        np.savez(out / "reference.npz", pixels=pixels.numpy(), tokens=tokens.numpy(),
                 image_features=image.numpy(), text_features=text_features.numpy(),
                 logits_per_image=logits.numpy())
        print("wrote", out)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        full(Path(sys.argv[2]))
    else:
        main()
