"""Throughput of decode + preprocess of a folder of JPEGs: torchvision's `_transform`
(OpenAI's code, a process per core) against `cargo xtask preprocess`, in the same run.

  .venv/bin/python tests/reference/bench_preprocess.py [--count 256] [--size 640x480]

Prints images/s for both and the ratio (ours / reference). Build the xtask first
(`cargo build -p xtask`); the script runs target/debug/xtask directly.
"""

import argparse
import os
import subprocess
import tempfile
import time
from multiprocessing import Pool

import numpy as np
from PIL import Image

from clip.clip import _transform


def make_folder(folder, count, width, height):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for i in range(count):
        phase = rng.uniform(0, 6.28, 3)
        img = np.stack([0.5 + 0.4 * np.sin(x / (9 + c) + phase[c]) * np.cos(y / (13 + c)) for c in range(3)], -1)
        img = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
        path = os.path.join(folder, f"{i:05d}.jpg")
        Image.fromarray((img * 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


TRANSFORM = _transform(224)


def reference_one(path):
    with Image.open(path) as im:
        return TRANSFORM(im).numpy()


def reference(paths, processes):
    start = time.perf_counter()
    with Pool(processes) as pool:
        out = np.stack(pool.map(reference_one, paths, chunksize=8))
    return time.perf_counter() - start, out


XTASK = os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "xtask")


def ours(paths, output):
    # The built binary, so cargo's freshness check (~0.8 s) is not timed.
    cmd = [XTASK, "preprocess", "--resolution", "224", "--output", output, *paths]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    processes = os.cpu_count()
    with tempfile.TemporaryDirectory() as folder:
        paths = make_folder(folder, args.count, width, height)
        output = os.path.join(folder, "pixels.npy")
        ours(paths[:4], output)  # warm the build and the page cache
        t_ref = min(reference(paths, processes)[0] for _ in range(args.repeats))
        t_ours = min(ours(paths, output) for _ in range(args.repeats))
        _, ref = reference(paths, processes)
        got = np.load(output)
        print(f"{args.count} JPEGs {width}x{height}, {processes} cores, best of {args.repeats}")
        print(f"reference (torchvision, {processes} processes): {args.count / t_ref:8.1f} images/s")
        print(f"ours (xtask preprocess):                   {args.count / t_ours:8.1f} images/s")
        print(f"ratio: {t_ref / t_ours:.2f}x   max |diff| {np.abs(got - ref).max():.2e}")


if __name__ == "__main__":
    main()
