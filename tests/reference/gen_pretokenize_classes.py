"""Writes what the tokenizer's word splitter needs to know of the reference's pattern
`<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+`
(Python's `regex` module, IGNORECASE), taken from that module itself:

  crates/clip-tokenizer/data/pretokenize_classes.tsv
      `class<TAB>first<TAB>last` (hex code points) for every range of characters the
      case-insensitive classes put in the same place: `L` (`[\\p{L}]`), `N` (`[\\p{N}]`),
      `O` (`[^\\s\\p{L}\\p{N}]`) or `-` (none: whitespace, and U+0345, whose case folding
      is a letter, so IGNORECASE takes it out of the negated class but `[\\p{L}]` does not
      match it); then `fold<TAB>char<TAB>letter` for every character other than the
      letter's two cases that IGNORECASE matches to a letter of the special tokens or
      contractions (U+017F matches `s`).
  tests/fixtures/tokenizer/pretokenize.jsonl
      seeded random texts over the characters that decide the split, with `findall`'s words.

Run from the repository root: .venv/bin/python tests/reference/gen_pretokenize_classes.py
"""
import json
import pathlib
import random

import regex

ROOT = pathlib.Path(__file__).resolve().parents[2]
TABLE = ROOT / "crates/clip-tokenizer/data/pretokenize_classes.tsv"
SAMPLES = ROOT / "tests/fixtures/tokenizer/pretokenize.jsonl"

# As clip/simple_tokenizer.py compiles it.
PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
CLASSES = [
    ("L", regex.compile(r"[\p{L}]", regex.IGNORECASE)),
    ("N", regex.compile(r"[\p{N}]", regex.IGNORECASE)),
    ("O", regex.compile(r"[^\s\p{L}\p{N}]", regex.IGNORECASE)),
]
LITERAL_LETTERS = sorted(set("startoftext" + "endoftext" + "strevmld"))


def code_points():
    return (cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000)


def class_of(c):
    found = [name for name, pattern in CLASSES if pattern.fullmatch(c)]
    assert len(found) <= 1, (hex(ord(c)), found)
    return found[0] if found else "-"


def ranges():
    current = None
    for cp in code_points():
        cls = class_of(chr(cp))
        if current and current[0] == cls and current[2] == cp - 1:
            current[2] = cp
        else:
            if current:
                yield current
            current = [cls, cp, cp]
    yield current


def folds():
    for letter in LITERAL_LETTERS:
        pattern = regex.compile(regex.escape(letter), regex.IGNORECASE)
        for cp in code_points():
            c = chr(cp)
            if c not in (letter, letter.upper()) and pattern.fullmatch(c):
                yield c, letter


POOL = (
    list("abcdelmrstvxyzADLMRSTV019 '''''.,!?<|>-_\t\n\x0b\x0c\r\x00\x1c\x1f")
    + ["<|startoftext|>", "<|endoftext|>", "<|STARTOFTEXT|>", "<|ſtartoftext|>", "<|endof", "'ll", "'re", "'ve"]
    + list("ſ\u0345\u212aßẞİıσςΣΑβγЖжѢ猫の写真고양이صورةתבनि")
    + list("\u0301\u0308\u0323\u093f\u0e31\u200d\ufe0f\u00a0\u2003\u3000\u2028\u0085")
    + list("٣४Ⅻⅱ①²½𝟙１〇") + ["🐱", "👍🏽", "👨‍👩‍👧", "🏳️‍🌈", "𐌰", "\U000e0001", "\u0378", "\ue000", "\U0010fffd"]
)


def samples(rng, count):
    for _ in range(count):
        text = "".join(rng.choice(POOL) for _ in range(rng.randint(0, 24)))
        yield {"text": text, "words": PATTERN.findall(text)}


def main():
    lines = [f"{cls}\t{first:X}\t{last:X}" for cls, first, last in ranges()]
    lines += [f"fold\t{ord(c):X}\t{letter}" for c, letter in folds()]
    TABLE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rng = random.Random(20261123)
    with SAMPLES.open("w", encoding="utf-8") as out:
        for sample in samples(rng, 2000):
            out.write(json.dumps(sample, ensure_ascii=False) + "\n")
    print(f"{TABLE.relative_to(ROOT)}: {len(lines)} lines; {SAMPLES.relative_to(ROOT)}: 2000 texts")


if __name__ == "__main__":
    main()
