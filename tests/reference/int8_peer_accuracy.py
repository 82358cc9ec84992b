"""The accuracy cost of ONNX Runtime's dynamic int8, for comparison with ours
(`precision_cost.py --runs flex:int8`): OpenAI's model with random weights exported as
`bench_peers.py --int8` exports it, the fp32 and the int8 graphs run by ONNX Runtime on the
same inputs (16 random images, 64 ImageNet prompts), cosine of each row.

    .venv/bin/python tests/reference/int8_peer_accuracy.py [--arch ViT-B/32]
"""

import argparse
import os
import tempfile

import numpy as np
import onnxruntime as ort

from bench_peers import export, prompts
from precision_cost import cosines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ViT-B/32")
    args = parser.parse_args()
    np.random.seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        r, paths = export(args.arch, tmp, int8=True)
        fp32 = tuple(p.replace(".int8.onnx", ".onnx") for p in paths)
        pixels = np.random.randn(16, 3, r, r).astype(np.float32)
        tokens = np.concatenate([prompts(16)(s) for s in range(4)])
        feeds = ({"pixels": pixels}, {"tokens": tokens})
        for name, f, q, feed in zip(("image", "text"), fp32, paths, feeds):
            run = lambda path: ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feed)[0]
            c = cosines(run(q), run(f))
            print(f"ONNX Runtime int8 vs fp32, {args.arch} {name}s: cosine min {c.min():.6f} / mean {c.mean():.6f}")


if __name__ == "__main__":
    main()
