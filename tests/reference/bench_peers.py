"""Ours against PyTorch, ONNX Runtime and OpenVINO on OpenAI's model, same run, same machine.

  .venv/bin/python tests/reference/bench_peers.py [--seconds 5] [--write docs/performance.md]
      [--shapes ViT-B/32:1,ViT-B/32:16,...] [--rounds 3] [--int8]

For each (architecture, batch): OpenAI's model with random weights (fp32) in PyTorch (all
cores); the same model's image and text encoders exported to ONNX (`torch.onnx.export`,
dynamic batch, opset 17, the TorchScript exporter) and run by ONNX Runtime (ORT_ENABLE_ALL,
intra-op threads = cores) and by OpenVINO (CPU; the LATENCY hint at batch 1, THROUGHPUT with
its optimal number of requests in flight at larger batches; inference precision f32, which
it would otherwise lower to bf16 on CPUs that have it); and `xtask bench` before and after
them (the table shows the mean of the two, the JSON line both). With --rounds N every
system is measured N times, interleaved, and the table shows each one's median: on a shared
machine one round's ratio can move by a third (docs/performance.md). Texts are
77-position token rows of "a photo of a {class}." for every peer (ours trims them to the
longest end-of-text, as it does in use). Prints one JSON line per shape and a Markdown table;
--write replaces the table between its markers in that file. Needs `pip install
onnxruntime openvino onnx` beside requirements.txt, and `cargo build -p xtask` first.

With --int8 every system runs its dynamic 8-bit quantisation instead: ours `xtask bench
--dtype int8`; PyTorch `quantize_dynamic` of its `nn.Linear` layers (qint8); ONNX Runtime and
OpenVINO the exports passed through `quant_pre_process` and `quantize_dynamic` (ONNX Runtime's
tool, its defaults: QInt8 weights per tensor, uint8 activations; MatMul, Gemm and Conv nodes). The table goes between
its own markers.
"""

import argparse
import json
import os
import pathlib
import platform
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort
import openvino as ov
import torch

import clip
from clip.model import CLIP

from bench_model import XTASK, reference, throughput
from model_fixtures import full_config

SHAPES = [("ViT-B/32", 1), ("ViT-B/32", 16), ("ViT-B/16", 1), ("ViT-B/16", 16), ("RN50", 1), ("RN50", 16)]
BEGIN, END = "<!-- bench_peers.py: begin -->", "<!-- bench_peers.py: end -->"
BEGIN_INT8, END_INT8 = "<!-- bench_peers.py --int8: begin -->", "<!-- bench_peers.py --int8: end -->"


class TextEncoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens):
        return self.model.encode_text(tokens)


def export(arch, directory, int8=False):
    """The image and text encoders of `arch` (random weights) as ONNX files (with `int8`,
    dynamically quantised by ONNX Runtime's tool)."""
    model = CLIP(**full_config(arch)).float().eval()
    r = model.visual.input_resolution
    paths = (os.path.join(directory, "visual.onnx"), os.path.join(directory, "text.onnx"))
    with torch.no_grad():
        torch.onnx.export(model.visual, torch.randn(1, 3, r, r), paths[0], input_names=["pixels"],
                          output_names=["features"], dynamic_axes={"pixels": {0: "batch"}},
                          opset_version=17, dynamo=False)
        torch.onnx.export(TextEncoder(model), clip.tokenize(["a photo of a cat."]), paths[1],
                          input_names=["tokens"], output_names=["features"],
                          dynamic_axes={"tokens": {0: "batch"}}, opset_version=17, dynamo=False)
    if int8:
        # ORT's recommended flow: `quant_pre_process` first (its graph optimisation folds
        # the Identity nodes through which the exporter shares RN50's repeated weights, and
        # `quantize_dynamic` cannot quantise a convolution through one); its symbolic shape
        # inference stops on the text encoder's Reshape, and quantisation does not need it.
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.shape_inference import quant_pre_process
        quantized = tuple(p.replace(".onnx", ".int8.onnx") for p in paths)
        for source, target in zip(paths, quantized):
            prepared = source.replace(".onnx", ".pre.onnx")
            quant_pre_process(source, prepared, skip_symbolic_shape=True)
            quantize_dynamic(prepared, target, weight_type=QuantType.QInt8)
        paths = quantized
    return r, paths


def prompts(batch):
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "crates", "clip-zeroshot", "data",
                           "imagenet", "classes.txt")) as f:
        classes = f.read().splitlines()
    return lambda step: clip.tokenize([f"a photo of a {classes[(step * batch + j) % len(classes)]}."
                                       for j in range(batch)]).numpy()


def onnx_runtime(paths, r, batch, seconds):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = os.cpu_count()
    visual = ort.InferenceSession(paths[0], options, providers=["CPUExecutionProvider"])
    text = ort.InferenceSession(paths[1], options, providers=["CPUExecutionProvider"])
    pixels = np.random.randn(batch, 3, r, r).astype(np.float32)
    tokens = prompts(batch)
    images = throughput(batch, seconds, lambda _: visual.run(None, {"pixels": pixels}))
    texts = throughput(batch, seconds, lambda s: text.run(None, {"tokens": tokens(s)}))
    return images, texts


def openvino(paths, r, batch, seconds):
    core = ov.Core()
    hint = "LATENCY" if batch == 1 else "THROUGHPUT"
    pixels = np.random.randn(batch, 3, r, r).astype(np.float32)
    tokens = prompts(batch)
    rates = []
    for path, feed in ((paths[0], lambda _: pixels), (paths[1], tokens)):
        # f32 explicitly: on CPUs with AVX512_BF16 or AMX, OpenVINO otherwise computes in bf16.
        config = {"PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": "f32"}
        compiled = core.compile_model(core.read_model(path), "CPU", config)
        if hint == "LATENCY":
            request = compiled.create_infer_request()
            rates.append(throughput(batch, seconds, lambda s: request.infer([feed(s)])))
            continue
        queue = ov.AsyncInferQueue(compiled, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        queue.start_async([feed(0)])
        queue.wait_all()
        start, done, step = time.perf_counter(), 0, 1
        while done == 0 or time.perf_counter() - start < seconds:
            queue.start_async([feed(step)])
            done += batch
            step += 1
        queue.wait_all()
        rates.append(done / (time.perf_counter() - start))
    return tuple(rates)


def ours(arch, batch, seconds, int8=False):
    dtype = ["--dtype", "int8"] if int8 else []
    out = subprocess.run([XTASK, "bench", "--arch", arch, "--batch", str(batch), "--seconds", str(seconds),
                          *dtype], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cpu_header(line):
    flags = open("/proc/cpuinfo").read()
    isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "SSE"
    return (f"CPU: {line.get('cpu', platform.processor())}, {os.cpu_count()} cores, {isa}; "
            f"PyTorch {torch.__version__}, ONNX Runtime {ort.__version__}, OpenVINO {ov.__version__}; "
            f"{time.strftime('%Y-%m-%d')}")


def measure(arch, batch, seconds, r, paths, int8=False):
    """One round: ours, the three peers, ours again; (ours, peers' images/s, peers' texts/s)."""
    # Ours before and after the peers, averaged: on a shared machine the rate drifts
    # over a minute, and whichever system runs last would otherwise bear it.
    before = ours(arch, batch, seconds, int8)
    torch_rates = reference(arch, batch, seconds, int8)
    ort_rates = onnx_runtime(paths, r, batch, seconds)
    ov_rates = openvino(paths, r, batch, seconds)
    after = ours(arch, batch, seconds, int8)
    mine = dict(after, runs=[before, after])
    for key in ("images_per_s", "texts_per_s"):
        mine[key] = (before[key] + after[key]) / 2
    img = {"pytorch": torch_rates["images_per_s"], "onnxruntime": ort_rates[0], "openvino": ov_rates[0]}
    txt = {"pytorch": torch_rates["texts_per_s"], "onnxruntime": ort_rates[1], "openvino": ov_rates[1]}
    return mine, img, txt


def median_round(rounds):
    """Each system's median rate over the rounds (a round itself when there is one)."""
    if len(rounds) == 1:
        return rounds[0]
    mine = dict(rounds[-1][0], runs=[run for o, _, _ in rounds for run in o["runs"]])
    for key in ("images_per_s", "texts_per_s"):
        mine[key] = float(np.median([o[key] for o, _, _ in rounds]))
    peers = [{k: float(np.median([rates[i][k] for rates in rounds])) for k in rounds[0][i]}
             for i in (1, 2)]
    return mine, peers[0], peers[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--shapes", help="e.g. ViT-B/32:1,RN50:16 (default: the issue's six)")
    parser.add_argument("--write", metavar="MARKDOWN")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; medians shown")
    parser.add_argument("--int8", action="store_true", help="every system's dynamic int8 quantisation")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    torch.set_num_threads(os.cpu_count())
    shapes = SHAPES if not args.shapes else [(s.rsplit(":", 1)[0], int(s.rsplit(":", 1)[1]))
                                             for s in args.shapes.split(",")]
    rows = ["| model, batch | ours img/s | PyTorch | ONNX Runtime | OpenVINO | ours / best | "
            "ours texts/s | PyTorch | ONNX Runtime | OpenVINO | ours / best |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    header = None
    for arch, batch in shapes:
        rounds = []
        with tempfile.TemporaryDirectory() as tmp:
            r, paths = export(arch, tmp, args.int8)
            for _ in range(args.rounds):
                rounds.append(measure(arch, batch, args.seconds, r, paths, args.int8))
        mine, img, txt = median_round(rounds)
        header = header or cpu_header(mine)
        line = {"arch": arch, "batch": batch, "dtype": "int8" if args.int8 else "f32", "ours": mine,
                "images_per_s": img, "texts_per_s": txt}
        if args.rounds > 1:
            line["rounds"] = [{"ours": o, "images_per_s": i, "texts_per_s": t} for o, i, t in rounds]
        print(json.dumps(line), flush=True)

        def cells(our, peers):
            best = max(peers, key=peers.get)
            return (f"{our:.2f} | " + " | ".join(f"{peers[k]:.2f}" for k in ("pytorch", "onnxruntime", "openvino"))
                    + f" | **{our / peers[best]:.2f}×** ({best})")

        rows.append(f"| {arch}, {batch} | {cells(mine['images_per_s'], img)} | {cells(mine['texts_per_s'], txt)} |")
    runs = "one run" if args.rounds == 1 else f"the median of {args.rounds} interleaved rounds"
    precision = "dynamic int8 (`--int8`)" if args.int8 else "fp32"
    text = "\n".join([header, "", *rows, "", f"(`tests/reference/bench_peers.py`, {precision}, all cores, "
                      f"{args.seconds:g} s per point, {runs}; ours the mean of a run before and one "
                      "after the peers.)"])
    print(text)
    if args.write:
        doc = pathlib.Path(args.write)
        content = doc.read_text(encoding="utf-8")
        begin, end = (BEGIN_INT8, END_INT8) if args.int8 else (BEGIN, END)
        if begin not in content:
            content += f"\n{begin}\n{end}\n"
        before, rest = content.split(begin + "\n", 1)
        _, after = rest.split(end, 1)
        doc.write_text(before + begin + "\n" + text + "\n" + end + after, encoding="utf-8")


if __name__ == "__main__":
    main()
