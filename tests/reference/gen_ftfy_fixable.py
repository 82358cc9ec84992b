"""Writes crates/clip-tokenizer/data/ftfy_fixable.regex: a Rust regex that matches
wherever ftfy 6.3's `fix_text` (default configuration) could change a text, apart from
NFC normalisation, which the tokenizer checks separately.

It is the alternation of
- one class of every character some per-character fixer changes or needs
  (`&` for unescape_html, ESC for remove_terminal_escapes, C1 controls, ligatures,
  full-width forms, curly quotes, line breaks, control characters); and
- ftfy's `badness.BADNESS_RE`, rewritten for Rust's regex crate so that it matches at
  least wherever Python's does: every character class is written out as explicit
  code-point ranges (Rust's class syntax has set operators Python's lacks), `\\s` is
  Python's whitespace set written out, `\\w` any character, and `^` also matches after a newline
  (ftfy checks each line on its own).

When the regex does not match and the text is NFC, `fix_text` returns the text unchanged:
`fix_encoding` only acts on texts `is_bad` flags, and every other fixer only on the
characters above. `cargo test -p clip-tokenizer` checks this against the fixture corpus.

Run: .venv/bin/python tests/reference/gen_ftfy_fixable.py
"""

import pathlib
import re
import sys

import ftfy
from ftfy import badness, fixes

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates/clip-tokenizer/data/ftfy_fixable.regex"
SAMPLES = ROOT / "tests/fixtures/tokenizer/ftfy_random.jsonl"

# Characters random texts are drawn from: ASCII, the Latin-1/cp1252/Latin-A letters and
# symbols mojibake is made of, Greek and Cyrillic (cp1253/cp1251 mojibake), box drawing and
# math (cp437/MacRoman), curly quotes, combining marks, and scripts ftfy never touches.
POOL = (
    "abcxyzABCXYZ019 .,!?'\"-()\t"
    + "".join(map(chr, range(0xA0, 0x180)))
    + "ƒˆ˜–—‘’‚“”„†‡•…‰‹›€™Œœ"
    + "ΑΒΓΞΟάέήίαβγδ" + "ВГРСЂЃђѓабвгдежзўЎ"
    + "─│┌┐└┘├┤═║╔╗√∂∆≈≠≤≥π∞"
    + "\u0301\u0308\u0327"
    + "日本語中文한국어カタカナ😀👍🏽"
)


def ranges(code_points):
    """Sorted code points -> Rust class body of ranges."""
    out = []
    cps = sorted(set(code_points))
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = cps[i], cps[j]
        out.append(f"\\x{{{lo:X}}}" if lo == hi else f"\\x{{{lo:X}}}-\\x{{{hi:X}}}")
        i = j + 1
    return "".join(out)


def members(python_class, top=None):
    """Every code point (below `top`; by default the BMP and the class's own characters)
    a Python character class matches."""
    compiled = re.compile(python_class)
    top = top or max(0x10000, max(map(ord, python_class)) + 1)
    return [c for c in range(top) if compiled.fullmatch(chr(c))]


def per_character_triggers():
    """Characters that a per-character fixer changes, or that start a multi-character fix."""
    found = {ord("&"), 0x1B, ord("\r")}
    char_fixers = [
        fixes.fix_c1_controls,
        fixes.fix_latin_ligatures,
        fixes.fix_character_width,
        fixes.uncurl_quotes,
        fixes.fix_line_breaks,
        fixes.remove_control_chars,
    ]
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue  # not representable in Rust strings
        ch = chr(c)
        for fixer in char_fixers:
            if fixer(ch) != ch or fixer("a" + ch + "b") != "a" + ch + "b":
                found.add(c)
                break
    return found


def badness_for_rust(exact=False):
    """BADNESS_RE without VERBOSE, classes written out, widened where Rust differs
    (`exact`: matching exactly where Python's does, for ftfy's own `is_bad`)."""
    pattern = badness.BADNESS_RE.pattern
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "[":
            # Find the end of the class (no nested classes or escaped ']' in ftfy's pattern).
            j = i + 1
            if pattern[j] == "^":
                j += 1
            if pattern[j] == "]":
                j += 1
            while pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            body = pattern[i : j + 1]
            if body.startswith("[^"):
                assert body.isascii(), body
                out.append(body)
            else:
                out.append("[" + ranges(members(body)) + "]")
            i = j + 1
        elif ch == "#":
            i = pattern.index("\n", i)
        elif ch in " \t\n":
            i += 1
        elif ch == "\\":
            esc = pattern[i + 1]
            if esc == "s":
                out.append("[" + ranges(members(r"[\s]")) + "]")
            elif esc == "w" and exact:
                out.append("[" + ranges(members(r"[\w]", top=0x110000)) + "]")
            elif esc == "w":
                out.append(r"(?s:.)")
            else:
                sys.exit(f"unexpected escape \\{esc}")
            i += 2
        elif ch == "^":
            out.append("^" if exact else "(?m:^)")
            i += 1
        elif ch in "|.?":
            out.append(ch)
            i += 1
        elif ch.isascii() and not ch.isalnum():
            sys.exit(f"unexpected metacharacter {ch!r}")
        else:
            out.append(ranges([ord(ch)]) if not ch.isascii() else ch)
            i += 1
    return "".join(out)


def random_samples(n=4000, seed=7):
    """Seeded random texts and what ftfy makes of them, to test the shortcut's soundness."""
    import json
    import random

    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        text = "".join(rng.choice(POOL) for _ in range(rng.randint(1, 12)))
        lines.append(json.dumps({"text": text, "ftfy": ftfy.fix_text(text)}, ensure_ascii=False))
    SAMPLES.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {SAMPLES} ({n} texts)")


def main():
    assert ftfy.__version__ == "6.3.1", ftfy.__version__
    triggers = "[" + ranges(per_character_triggers()) + "]"
    regex = triggers + "|" + badness_for_rust()
    OUT.write_text(regex + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(regex)} bytes)")
    random_samples()


if __name__ == "__main__":
    main()
