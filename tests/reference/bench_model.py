"""OpenAI's CLIP (fp32, all cores) against `xtask bench` on the same shapes, in one run.

  .venv/bin/python tests/reference/bench_model.py --arch ViT-B/32 --batch 16 [--seconds 10]
      [--backend flex]

Random weights for both (speed does not depend on the values). Prints both JSON lines and
the ratios ours / PyTorch. Build first (`cargo build -p xtask`); target/debug/xtask is run
directly so cargo's freshness check is not timed.
"""

import argparse
import json
import os
import subprocess
import time

import torch

from clip.model import CLIP
import clip

from model_fixtures import full_config  # the nine architectures' hyperparameters

XTASK = os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "xtask")


def throughput(batch, seconds, step):
    step(0)
    start, done, i = time.perf_counter(), 0, 1
    while done == 0 or time.perf_counter() - start < seconds:
        step(i)
        done += batch
        i += 1
    return done / (time.perf_counter() - start)


def reference(arch, batch, seconds):
    config = full_config(arch)
    model = CLIP(**config).float().eval()
    r = config["image_resolution"]
    pixels = torch.randn(batch, 3, r, r)
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "crates", "clip-zeroshot", "data",
                           "imagenet", "classes.txt")) as f:
        classes = f.read().splitlines()
    with torch.no_grad():
        images = throughput(batch, seconds, lambda _: model.encode_image(pixels))

        def text_step(step):
            prompts = [f"a photo of a {classes[(step * batch + j) % len(classes)]}." for j in range(batch)]
            model.encode_text(clip.tokenize(prompts, truncate=True))

        texts = throughput(batch, seconds, text_step)
    return {"arch": arch, "batch": batch, "backend": "pytorch", "images_per_s": round(images, 2),
            "texts_per_s": round(texts, 2)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="ViT-B/32")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--backend", default="flex")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    ref = reference(args.arch, args.batch, args.seconds)
    out = subprocess.run([XTASK, "bench", "--arch", args.arch, "--batch", str(args.batch),
                          "--seconds", str(args.seconds), "--backend", args.backend],
                         check=True, capture_output=True, text=True).stdout
    ours = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(ref))
    print(json.dumps(ours))
    print(f"ratio images {ours['images_per_s'] / ref['images_per_s']:.2f}x, "
          f"texts {ours['texts_per_s'] / ref['texts_per_s']:.2f}x")


if __name__ == "__main__":
    main()
