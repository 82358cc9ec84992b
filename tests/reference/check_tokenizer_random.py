"""Checks `cargo xtask tokenize` against `clip.tokenize` on seeded random texts, end to end.

The committed fixtures check each cleaning step and the word split on their own; this draws
texts from the pieces those steps act on together (mojibake, HTML entities, combining marks,
Hangul jamo, final sigma, U+0345, U+017F, CR, ESC sequences, every kind of whitespace,
special tokens, many scripts) and compares the whole tokenizer's ids row by row.

Run from the repository root (after `cargo build -p xtask`):
    .venv/bin/python tests/reference/check_tokenizer_random.py [--seed 1] [--count 20000]
Exits non-zero and prints the first differing texts when any row differs.
"""
import argparse
import pathlib
import random
import subprocess
import sys
import tempfile

import numpy as np
from clip import clip

ROOT = pathlib.Path(__file__).resolve().parents[2]

POOL = (
    list("abcxyzABCXYZ019 .,!?'\"-()<>|&;#\t\r")
    + ["&amp;", "&lt;", "&#39;", "&#x27;", "&eacute;", "&amp;amp;", "&nbsp;", "&notin", "&#150;"]
    + ["<|endoftext|>", "<|startoftext|>", "'s", "'LL", "'ſ", "\r\n"]
    + list("ſ\u0345\u212aßẞİıσςΣΑβγЖжѢ猫の写真고양이صورةתבनि")
    + list("\u0301\u0308\u0323\u093f\u0e31\u200d\ufe0f\u00a0\u2003\u3000\u2028\u0085\u001c\u001f\u000b\u000c")
    + list("٣४Ⅻⅱ①²½𝟙１〇\x1a\ufffd")
    + ["🐱", "👍🏽", "👨‍👩‍👧", "𐌰", "\ue000", "ﬁ", "ＦＵＬＬ", "“", "”", "‘", "’", "\x1b[31m", "\x80", "\x93"]
    + ["Ã©", "Ã¨", "â€™", "â€œ", "Ã¶", "Ã¼", "Ð¿Ñ€Ð¸", "Ã\xa0", "â€", "Â£", "Ã", "Â"]
    + ["é", "è", "ü", "æ", "ø", "å", "Ä", "ᾼ", "ᾳ", "e\u0301", "A\u030a", "\u1100\u1161", "\u0b47\u0b3e"]
)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=20000)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    # One text per line, so no newline inside a text.
    texts = [
        "".join(rng.choice(POOL) for _ in range(rng.randint(0, 30))).replace("\n", " ")
        for _ in range(args.count)
    ]
    expected = clip.tokenize(texts, truncate=True).numpy().astype(np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        lines = pathlib.Path(tmp) / "lines.txt"
        ids = pathlib.Path(tmp) / "ids.npy"
        lines.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
        xtask = ROOT / "target/debug/xtask"
        subprocess.run([xtask, "tokenize", "--input", lines, "--output", ids, "--truncate"], check=True)
        ours = np.load(ids)
    differ = np.where((ours != expected).any(axis=1))[0]
    print(f"{len(texts)} texts (seed {args.seed}): {len(differ)} rows differ")
    for i in differ[:10]:
        print(f"  {texts[i]!r}\n    reference {expected[i][:24].tolist()}\n    ours      {ours[i][:24].tolist()}")
    sys.exit(1 if len(differ) else 0)


if __name__ == "__main__":
    main()
