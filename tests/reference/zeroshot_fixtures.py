"""Writes the zero-shot parity fixture from OpenAI's code, on the tiny full-vocabulary
random-weight model (tests/fixtures/models/tiny-vocab) and three PNG test images:

  probs:TEMPLATE     [3, 3]  README example: softmax of `model(image, clip.tokenize(prompts))`
                             for the labels below, with template "{}" and "a photo of a {}."
  weights            [E, 5]  OpenAI's notebook `zeroshot_classifier` over five CIFAR-10 classes
                             and the 18 CIFAR templates
  logits             [3, 5]  100 · normalised image features @ weights

Run from the repository root: .venv/bin/python tests/reference/zeroshot_fixtures.py
"""

import os

import numpy as np
import torch
from PIL import Image

import clip
from clip.clip import _transform
from clip.model import build_model

ROOT = os.path.join(os.path.dirname(__file__), "..", "fixtures")
IMAGES = ["photo.png", "rgba.png", "palette.png"]
LABELS = ["a diagram", "a dog", "a cat"]
TEMPLATES = ["{}", "a photo of a {}."]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer"]
ZEROSHOT_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "clip-zeroshot", "data")


def main():
    state = torch.load(os.path.join(ROOT, "models", "tiny-vocab", "state_dict.pt"), map_location="cpu")
    model = build_model(state).float().eval()
    preprocess = _transform(model.visual.input_resolution)
    images = torch.stack([preprocess(Image.open(os.path.join(ROOT, "images", n))) for n in IMAGES])
    arrays = {}
    with torch.no_grad():
        for template in TEMPLATES:
            text = clip.tokenize([template.format(label) for label in LABELS])
            logits_per_image, _ = model(images, text)
            arrays[f"probs:{template}"] = logits_per_image.softmax(dim=-1).numpy()

        with open(os.path.join(ZEROSHOT_DATA, "cifar", "templates.txt")) as f:
            templates = [t for t in f.read().splitlines() if t]
        weights = []
        for classname in CLASSES:  # OpenAI's notebook, verbatim in substance
            texts = clip.tokenize([t.format(classname) for t in templates])
            embeddings = model.encode_text(texts)
            embeddings /= embeddings.norm(dim=-1, keepdim=True)
            embedding = embeddings.mean(dim=0)
            embedding /= embedding.norm()
            weights.append(embedding)
        weights = torch.stack(weights, dim=1)
        features = model.encode_image(images)
        features /= features.norm(dim=-1, keepdim=True)
        arrays["weights"] = weights.numpy()
        arrays["logits"] = (100.0 * features @ weights).numpy()
    os.makedirs(os.path.join(ROOT, "zeroshot"), exist_ok=True)
    np.savez(os.path.join(ROOT, "zeroshot", "reference.npz"), **arrays)
    for k, v in arrays.items():
        print(k, v.shape, v.ravel()[:3])


if __name__ == "__main__":
    main()
