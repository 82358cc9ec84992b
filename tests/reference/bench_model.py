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
import pathlib
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


def reference(arch, batch, seconds, int8=False):
    """OpenAI's model in PyTorch; with `int8`, its `nn.Linear` layers dynamically quantised
    (`torch.ao.quantization.quantize_dynamic`, qint8: the MLPs and attention output
    projections; attention's packed in-projection is not an `nn.Linear` and stays f32)."""
    config = full_config(arch)
    model = CLIP(**config).float().eval()
    if int8:
        quantize = lambda m: torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
        model.transformer = quantize(model.transformer)
        if "vision_patch_size" in config and config["vision_patch_size"]:
            model.visual = quantize(model.visual)
        # A ModifiedResNet's only linear layers are its attention pool's, which reads
        # `q_proj.bias` as a tensor (a quantised layer's is a method): it stays f32.
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


def compare(arch, batch, seconds, backend):
    """PyTorch and xtask bench on one shape, in this order, in this run."""
    ref = reference(arch, batch, seconds)
    out = subprocess.run([XTASK, "bench", "--arch", arch, "--batch", str(batch),
                          "--seconds", str(seconds), "--backend", backend],
                         check=True, capture_output=True, text=True).stdout
    return ref, json.loads(out.strip().splitlines()[-1])


# The shapes of the table in docs/performance.md (the targets of issue 7).
TABLE = [("ViT-B/32", 16), ("ViT-B/32", 1), ("RN50", 16)]
BEGIN, END = "<!-- bench_model.py --table: begin -->", "<!-- bench_model.py --table: end -->"


def table(seconds, backend):
    rows = ["| arch | batch | PyTorch images/s | ours images/s | ratio | PyTorch texts/s | ours texts/s | ratio |",
            "|---|---|---|---|---|---|---|---|"]
    kernels = set()
    for arch, batch in TABLE:
        ref, ours = compare(arch, batch, seconds, backend)
        kernels.add(ours.get("cpu_matmul"))
        rows.append(f"| {arch} | {batch} | {ref['images_per_s']:.2f} | {ours['images_per_s']:.2f} | "
                    f"{ours['images_per_s'] / ref['images_per_s']:.2f}× | {ref['texts_per_s']:.2f} | "
                    f"{ours['texts_per_s']:.2f} | {ours['texts_per_s'] / ref['texts_per_s']:.2f}× |")
    rows.append("")
    rows.append(f"({time.strftime('%Y-%m-%d')}, `{backend}`, CPU matrix products: "
                f"{', '.join(str(k) for k in sorted(kernels, key=str))}; `bench_model.py --table`.)")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="ViT-B/32")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--backend", default="flex")
    parser.add_argument("--table", action="store_true",
                        help="measure the shapes of docs/performance.md's table and print it")
    parser.add_argument("--write", metavar="MARKDOWN",
                        help="with --table: replace the table between its markers in this file")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    if args.table:
        text = table(args.seconds, args.backend)
        print(text)
        if args.write:
            doc = pathlib.Path(args.write)
            before, rest = doc.read_text(encoding="utf-8").split(BEGIN + "\n", 1)
            _, after = rest.split(END, 1)
            doc.write_text(before + BEGIN + "\n" + text + "\n" + END + after, encoding="utf-8")
        return
    ref, ours = compare(args.arch, args.batch, args.seconds, args.backend)
    print(json.dumps(ref))
    print(json.dumps(ours))
    print(f"ratio images {ours['images_per_s'] / ref['images_per_s']:.2f}x, "
          f"texts {ours['texts_per_s'] / ref['texts_per_s']:.2f}x")


if __name__ == "__main__":
    main()
