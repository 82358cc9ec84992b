"""Full-size open_clip towers with random weights, generated on demand (never committed: ViT-bigG/14
is 2.5B parameters, 10 GB in float32).

For each model name given (default ViT-bigG-14) writes DIR/NAME/ laid out as its hf-hub repository:
open_clip_pytorch_model.bin (torch.save of the state dict, as the LAION releases ship it),
open_clip_config.json ({"model_cfg", "preprocess_cfg"} as push_to_hub writes them) and
reference.npz: one random image's pixels [1, 3, 224, 224] and two captions' tokens
(open_clip.tokenize), with open_clip's image_features and text_features (unnormalised), and
the generator's own peak RSS and seconds.

Run: .venv/bin/python tests/reference/full_size_fixtures.py --out /tmp/full-size ViT-bigG-14
then: CLIP_FULL_SIZE_DIR=/tmp/full-size/ViT-bigG-14 cargo test --release --test open_clip_parity \
        -- --ignored full_size
"""

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import open_clip
import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("names", nargs="*", default=["ViT-bigG-14"])
    args = parser.parse_args()
    for name in args.names:
        out = args.out / name
        out.mkdir(parents=True, exist_ok=True)
        start = time.time()
        torch.manual_seed(0)
        model = open_clip.create_model(name, pretrained=None).eval()
        params = sum(p.numel() for p in model.parameters())
        torch.save(model.state_dict(), out / "open_clip_pytorch_model.bin")
        config = {
            "model_cfg": open_clip.get_model_config(name),
            "preprocess_cfg": {"mean": list(open_clip.OPENAI_DATASET_MEAN),
                               "std": list(open_clip.OPENAI_DATASET_STD)},
        }
        (out / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
        size = model.visual.image_size
        size = size[0] if isinstance(size, (tuple, list)) else size
        pixels = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
        tokens = open_clip.tokenize(["a photo of a cat", "a diagram of a very large model"])
        with torch.no_grad():
            forward = time.time()
            image = model.encode_image(pixels)
            text = model.encode_text(tokens)
            forward = time.time() - forward
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        np.savez(out / "reference.npz", pixels=pixels.numpy(), tokens=tokens.numpy(),
                 image_features=image.numpy(), text_features=text.numpy(),
                 peak_rss_gib=np.array([rss]), forward_seconds=np.array([forward]))
        print(f"{name}: {params / 1e9:.2f}B parameters, open_clip forward {forward:.1f} s, "
              f"peak RSS {rss:.1f} GiB, {time.time() - start:.0f} s in all")


if __name__ == "__main__":
    main()
