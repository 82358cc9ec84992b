"""Tokenizer throughput: the Python reference vs clip-tokenizer vs
instant-clip-tokenizer, measured in the same run on the same corpora: `fixtures`
(tests/fixtures/tokenizer/lines.txt, adversarial: most lines need an ftfy fixer) and
`prompts` (OpenAI's 80 ImageNet templates over the 1000 classes, every 10th text, as
benches/tokenize.rs builds it).

Runs the reference (OpenAI's SimpleTokenizer / clip.tokenize, one thread),
then `cargo bench -p clip-tokenizer --bench tokenize`, reads criterion's
estimates and prints texts/s and the ratios as a Markdown table.

Run from the repository root: .venv/bin/python tests/reference/bench_tokenizer.py
"""
import json
import pathlib
import subprocess
import time

from clip import clip
from clip.simple_tokenizer import SimpleTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "crates/clip-zeroshot/data/imagenet"


def corpora():
    fixtures = (ROOT / "tests/fixtures/tokenizer/lines.txt").read_text(encoding="utf-8").split("\n")[:-1]
    classes = (DATA / "classes.txt").read_text(encoding="utf-8").splitlines()
    templates = (DATA / "templates.txt").read_text(encoding="utf-8").splitlines()
    prompts = [t.replace("{}", c) for t in templates for c in classes][::10]
    return {"fixtures": fixtures, "prompts": prompts}


LINES = []


def rate(fn, min_seconds=3.0):
    runs, start = 0, time.perf_counter()
    while True:
        fn()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return runs * len(LINES) / elapsed


def python_rates():
    cold_tok = [None]

    def cold():
        tok = SimpleTokenizer()  # fresh BPE cache (vocabulary load excluded below)
        start = time.perf_counter()
        for t in LINES:
            tok.encode(t)
        return time.perf_counter() - start

    cold_times = [cold() for _ in range(3)]
    warm = SimpleTokenizer()
    for t in LINES:
        warm.encode(t)
    encode_warm = rate(lambda: [warm.encode(t) for t in LINES])
    batch = rate(lambda: clip.tokenize(LINES, truncate=True))
    return {
        "encode": encode_warm,
        "encode, cold cache": len(LINES) / min(cold_times),
        "batch": batch,
    }


def rust_rates(corpus):
    out = {}
    crit = ROOT / "target/criterion"
    for group, key in [("encode (1 thread)", "encode"), ("tokenize batch (all threads)", "batch")]:
        for impl in ["clip-tokenizer", "clip-tokenizer, cold cache", "instant-clip-tokenizer"]:
            est = crit / group / impl / corpus / "new/estimates.json"
            if est.exists():
                ns = json.loads(est.read_text())["mean"]["point_estimate"]
                name = key + (", cold cache" if "cold" in impl else "")
                out[(impl.split(",")[0], name)] = len(LINES) / (ns * 1e-9)
    return out


def main():
    texts = corpora()
    py = {}
    for corpus, lines in texts.items():
        LINES[:] = lines
        py[corpus] = python_rates()
    subprocess.run(["cargo", "bench", "-p", "clip-tokenizer", "--bench", "tokenize", "--", "--noplot"],
                   cwd=ROOT, check=True)
    for corpus, lines in texts.items():
        LINES[:] = lines
        table(corpus, py[corpus], rust_rates(corpus))


def table(corpus, py, rs):
    print(f"\ncorpus `{corpus}`: {len(LINES)} texts\n")
    print("| measure | Python reference | clip-tokenizer | instant-clip-tokenizer | clip-tokenizer / Python | clip-tokenizer / instant |")
    print("|---|---|---|---|---|---|")
    for name in ["encode", "encode, cold cache", "batch"]:
        ours = rs.get(("clip-tokenizer", name))
        inst = rs.get(("instant-clip-tokenizer", name))
        ref = py.get(name)
        cells = [f"{v:,.0f}/s" if v else "–" for v in (ref, ours, inst)]
        r1 = f"{ours / ref:.1f}×" if ours and ref else "–"
        r2 = f"{ours / inst:.2f}×" if ours and inst else "–"
        print(f"| {name} | " + " | ".join(cells) + f" | {r1} | {r2} |")


if __name__ == "__main__":
    main()
