"""The accuracy cost of computing in f16/bf16 or int8, and of the wgpu backend: `xtask embed`
on the fixture images and 64 ImageNet prompts, each run's features compared row by row
(cosine) with the f32 run on flex. `--runs flex:int8,wgpu:f32` picks the runs (flex f32, the
baseline, always runs).

    .venv/bin/python tests/reference/model_fixtures.py --full --only ViT-B/32
    cargo build -p xtask
    .venv/bin/python tests/reference/precision_cost.py --weights tests/fixtures/big/ViT-B-32/openai.pt
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNS = [
    ("flex", "f32"),
    ("flex", "f16"),
    ("flex", "bf16"),
    ("flex", "int8"),
    ("wgpu", "f32"),
    ("wgpu", "f16"),
]


def cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--xtask", default=str(ROOT / "target/debug/xtask"))
    parser.add_argument("--runs", help="backend:dtype,... (default: all)")
    args = parser.parse_args()
    runs = RUNS if not args.runs else [("flex", "f32")] + [
        tuple(r.split(":")) for r in args.runs.split(",") if r != "flex:f32"]

    images = sorted(str(p) for p in (ROOT / "tests/fixtures/images").iterdir()
                    if p.suffix in {".png", ".jpg", ".jpeg"})
    classes = (ROOT / "crates/clip-zeroshot/data/imagenet/classes.txt").read_text().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        texts = pathlib.Path(tmp) / "texts.txt"
        texts.write_text("".join(f"a photo of a {c}.\n" for c in classes[:64]))
        features = {}
        for backend, dtype in runs:
            out = pathlib.Path(tmp) / f"{backend}-{dtype}.npz"
            start = time.perf_counter()
            run = subprocess.run(
                [args.xtask, "embed", "--weights", args.weights, "--images", *images,
                 "--texts", str(texts), "--output", str(out), "--skip-bad",
                 "--backend", backend, "--dtype", dtype],
                capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if run.returncode != 0:
                print(f"{backend} {dtype}: {run.stderr.strip()}", file=sys.stderr)
                continue
            with np.load(out) as z:
                features[(backend, dtype)] = (z["image_features"], z["text_features"], seconds)

    base_images, base_texts, _ = features[("flex", "f32")]
    keep = ~np.isnan(base_images).any(axis=1)
    print("| backend | dtype | image cosine min / mean | text cosine min / mean | seconds |")
    print("|---|---|---|---|---|")
    for (backend, dtype), (imgs, txts, seconds) in features.items():
        ci = cosines(imgs[keep], base_images[keep])
        ct = cosines(txts, base_texts)
        print(f"| {backend} | {dtype} | {ci.min():.6f} / {ci.mean():.6f} | "
              f"{ct.min():.6f} / {ct.mean():.6f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
