"""Training throughput: open_clip's training step against `cargo xtask train`, same run.

  .venv/bin/python tests/reference/bench_train.py [--steps 6] [--shards DIR] [--only tiny]

For each (config, batch): open_clip's `CLIP` (quick_gelu, the same tower shapes) stepped with
its `ClipLoss` and AdamW on random tensors (the model step alone), then `xtask train` on
webdataset shards written by `xtask make-shards` (the whole loop: reading, decoding and
preprocessing on the worker thread, then the step). Prints one JSON line per row and a
Markdown table for docs/training.md. Build first (`cargo build -p xtask`).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import torch
import open_clip
from open_clip.loss import ClipLoss
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
XTASK = os.path.join(ROOT, "target", "debug", "xtask")

# build_model's fields (ours) for each row; open_clip's towers are built from the same numbers.
TINY = {"embed_dim": 64, "image_resolution": 64, "vision_layers": [1, 1, 1, 1], "vision_width": 16,
        "vision_patch_size": None, "context_length": 24, "vocab_size": 49408,
        "transformer_width": 64, "transformer_heads": 2, "transformer_layers": 2,
        "vision_head_width": 32}
VIT_B_32 = {"embed_dim": 512, "image_resolution": 224, "vision_layers": 12, "vision_width": 768,
            "vision_patch_size": 32, "context_length": 77, "vocab_size": 49408,
            "transformer_width": 512, "transformer_heads": 8, "transformer_layers": 12}
ROWS = [("tiny (demo's ModifiedResNet)", TINY, 128), ("ViT-B/32", VIT_B_32, 32)]


def open_clip_model(c):
    vision = CLIPVisionCfg(layers=tuple(c["vision_layers"]) if isinstance(c["vision_layers"], list)
                           else c["vision_layers"], width=c["vision_width"],
                           head_width=c.get("vision_head_width", 64),
                           patch_size=c["vision_patch_size"] or 16, image_size=c["image_resolution"])
    text = CLIPTextCfg(context_length=c["context_length"], vocab_size=c["vocab_size"],
                       width=c["transformer_width"], heads=c["transformer_heads"],
                       layers=c["transformer_layers"])
    return CLIP(c["embed_dim"], vision, text, quick_gelu=True, output_dict=True)


def open_clip_step_rate(c, batch, steps):
    torch.manual_seed(0)
    model = open_clip_model(c).train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.2}, {"params": rest, "weight_decay": 0.0}],
                            lr=5e-4, betas=(0.9, 0.98), eps=1e-6)
    loss_fn = ClipLoss()
    r, ctx = c["image_resolution"], c["context_length"]
    images = torch.randn(batch, 3, r, r)
    texts = torch.randint(1, 49000, (batch, ctx))
    texts[:, 0] = 49406
    texts[:, 12] = 49407
    texts[:, 13:] = 0

    def step():
        out = model(images, texts)
        loss = loss_fn(out["image_features"], out["text_features"], out["logit_scale"])
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up, as our first step is in our average
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def ours(c, batch, steps, shards):
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "config.json")
        with open(config, "w") as f:
            json.dump({k: v for k, v in c.items()}, f)
        run = subprocess.run([XTASK, "train", "--dataset", "webdataset", "--data-dir", shards,
                              "--config", config, "--output", os.path.join(tmp, "run"),
                              "--batch-size", str(batch), "--epochs", "1",
                              "--stop-after", str(steps + 1), "--checkpoint-every", "100000"],
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(run.stderr)
        m = re.search(r"([\d.]+) pairs/s \(model step ([\d.]+) pairs/s\), ([\d.]+)% of the time waiting",
                      run.stderr)
        return float(m.group(1)), float(m.group(2)), float(m.group(3))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--shards", help="shards to train on (default: 2,000 generated pairs)")
    parser.add_argument("--only", help="rows whose model name starts with this (e.g. tiny)")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    with tempfile.TemporaryDirectory() as tmp:
        shards = args.shards or os.path.join(tmp, "shards")
        if not args.shards:
            subprocess.run([XTASK, "make-shards", "--output", shards, "--pairs", "2000",
                            "--per-shard", "500"], check=True, capture_output=True)
        table = ["| model | batch | open_clip pairs/s | ours pairs/s (loop) | ours model step | ratio | waiting for data |",
                 "|---|---|---|---|---|---|---|"]
        for name, c, batch in ROWS:
            if args.only and not name.startswith(args.only):
                continue
            ref = open_clip_step_rate(c, batch, args.steps)
            loop, step, waiting = ours(c, batch, args.steps, shards)
            print(json.dumps({"model": name, "batch": batch, "open_clip": round(ref, 2),
                              "ours_loop": loop, "ours_step": step, "waiting_pct": waiting,
                              "open_clip_version": open_clip.__version__,
                              "torch": torch.__version__}), flush=True)
            table.append(f"| {name} | {batch} | {ref:.1f} | {loop:.1f} | {step:.1f} | "
                         f"{loop / ref:.2f}× | {waiting:.1f}% |")
    print("\n".join(table))


if __name__ == "__main__":
    main()
