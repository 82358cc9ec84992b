"""Writes the tables behind clip-tokenizer's port of ftfy 6.3.1 (crates/clip-tokenizer/src/ftfy/):

- data/ftfy_codecs.tsv: `name<TAB>256 code points` (hex, `-` where the byte is undefined) for
  every encoding in `chardata.CHARMAP_ENCODINGS` (ftfy's "sloppy" codecs included, with byte
  0x1A standing for U+FFFD), in ftfy's order, then strict `windows-1252`;
- data/ftfy_patterns.tsv: `name<TAB>Rust regex` for `badness.BADNESS_RE` (exact: classes, `\\s`
  and `\\w` written out as Python's code points), `UTF8_DETECTOR_RE`'s repeated group and its
  lookbehind class, and the byte patterns `ALTERED_UTF8_RE` and `LOSSY_UTF8_RE`;
- data/ftfy_char_maps.tsv: `fixer<TAB>code point<TAB>replacement code points` for the
  per-character fixers (`fix_latin_ligatures`, `fix_character_width`, `uncurl_quotes`,
  `remove_control_chars`), taken from the fixers themselves;
- tests/fixtures/tokenizer/ftfy_mojibake.jsonl: seeded mojibake (UTF-8 text decoded with the
  wrong codec, once or twice, in places, with lost bytes or spaces for U+00A0) and what
  `ftfy.fix_text` makes of it, for the port's parity test.

Run: .venv/bin/python tests/reference/gen_ftfy_tables.py
"""

import json
import pathlib
import random
import re

import ftfy
from ftfy import chardata, fixes

from gen_ftfy_fixable import badness_for_rust, members, ranges

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "crates/clip-tokenizer/data"
MOJIBAKE = ROOT / "tests/fixtures/tokenizer/ftfy_mojibake.jsonl"

PHRASES = [
    "café crème", "naïve façade", "Ærøskøbing", "São Paulo", "Zürich – Genève", "€20 or £15",
    "“quoted” and ‘single’", "it’s done…", "œuvre", "Łódź and Kraków", "Þórsmörk",
    "Ελληνικά γράμματα", "Привет, мир", "Україна", "日本語のテキスト", "中文字符", "한국어",
    "emoji 😀👍🏽", "العربية", "עברית", "ﬁne ﬂour", "ＦＵＬＬ　ｗｉｄｔｈ", "non\u00a0breaking",
    "Straße", "İstanbul ğüşöç", "Vilnius ąčęėįšųūž", "A × B ≤ C ± 1°", "µ-law ¼ ½ ¾", "tab\tand\nline",
]
CODECS = ["latin-1", "cp1252", "cp1251", "cp1250", "cp1253", "cp1254", "cp1257", "iso-8859-2",
          "mac_roman", "cp437"]


def mojibake(rng, text):
    codec = rng.choice(CODECS)
    bad = text.encode("utf-8").decode(codec, errors=rng.choice(["replace", "ignore"]))
    kind = rng.random()
    if kind < 0.15:  # twice
        bad = bad.encode("utf-8").decode(rng.choice(CODECS), errors="replace")
    elif kind < 0.3:  # the NO-BREAK SPACE of a UTF-8 sequence turned into a space
        bad = bad.replace("\u00a0", " ")
    elif kind < 0.4:  # lost bytes
        bad = bad.replace("\u00a0", "?") if rng.random() < 0.5 else bad.replace("\x81", "\ufffd")
    return bad


def mojibake_samples(n=3000, seed=11):
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        words = [rng.choice(PHRASES) for _ in range(rng.randint(1, 3))]
        parts = [mojibake(rng, w) if rng.random() < 0.7 else w for w in words]
        text = " ".join(parts)
        if rng.random() < 0.1:
            text += rng.choice(["&amp;", "&eacute;", "&#233;", "\x1b[31m", "\x00", "\r\n"])
        lines.append(json.dumps({"text": text, "ftfy": ftfy.fix_text(text)}, ensure_ascii=False))
    MOJIBAKE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {MOJIBAKE} ({n} texts)")


def codecs():
    lines = []
    for name in chardata.CHARMAP_ENCODINGS + ["windows-1252"]:
        cells = []
        for byte in range(256):
            try:
                cells.append(f"{ord(bytes([byte]).decode(name)):X}")
            except UnicodeDecodeError:
                cells.append("-")
        defined = [c for c in cells if c != "-"]
        assert len(defined) == len(set(defined)), f"{name} decodes two bytes alike"
        lines.append(name + "\t" + " ".join(cells))
    return lines


def byte_pattern(pattern):
    """A Python bytes regex made only of classes, ranges and `|` -> Rust `(?-u)` syntax."""
    out = []
    for b in pattern:
        ch = chr(b)
        out.append(ch if ch in "[]|-" or (ch.isascii() and ch.isalnum()) else f"\\x{b:02X}")
    return "(?-u)" + "".join(out)


def utf8_detector():
    clues = chardata.UTF8_CLUES
    cls = lambda key: "[" + ranges(members("[" + clues[key] + "]")) + "]"
    cont = cls("utf8_continuation")
    group = (f"(?:{cls('utf8_first_of_2')}{cont}|{cls('utf8_first_of_3')}{cont}{{2}}"
             f"|{cls('utf8_first_of_4')}{cont}{{3}})+")
    # The pattern this mirrors, so a change in ftfy's shows up here.
    expected = re.sub(r"\s+", "", """
        (?<![{utf8_continuation_strict}])
        ([{utf8_first_of_2}][{utf8_continuation}]
        |[{utf8_first_of_3}][{utf8_continuation}]{{2}}
        |[{utf8_first_of_4}][{utf8_continuation}]{{3}})+""").format(**clues)
    assert re.sub(r"\s+", "", chardata.UTF8_DETECTOR_RE.pattern) == re.sub(r"\s+", "", expected)
    return group, cls("utf8_continuation_strict")


def patterns():
    group, strict = utf8_detector()
    assert chardata.C1_CONTROL_RE.pattern == r"[\x80-\x9f]"
    return [
        "badness\t" + badness_for_rust(exact=True),
        "utf8_detector\t" + group,
        "utf8_continuation_strict\t" + strict,
        "altered_utf8\t" + byte_pattern(chardata.ALTERED_UTF8_RE.pattern),
        "lossy_utf8\t" + byte_pattern(chardata.LOSSY_UTF8_RE.pattern),
    ]


def char_maps():
    lines = []
    fixers = {
        "ligatures": fixes.fix_latin_ligatures,
        "width": fixes.fix_character_width,
        "quotes": fixes.uncurl_quotes,
        "controls": fixes.remove_control_chars,
    }
    for name, fixer in fixers.items():
        for c in range(0x110000):
            if 0xD800 <= c <= 0xDFFF:
                continue
            out = fixer(chr(c))
            if out != chr(c):
                lines.append(f"{name}\t{c:X}\t" + " ".join(f"{ord(o):X}" for o in out))
    return lines


def main():
    assert ftfy.__version__ == "6.3.1", ftfy.__version__
    for name, lines in [("ftfy_codecs.tsv", codecs()), ("ftfy_patterns.tsv", patterns()),
                        ("ftfy_char_maps.tsv", char_maps())]:
        (DATA / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {DATA / name} ({len(lines)} lines)")
    mojibake_samples()


if __name__ == "__main__":
    main()
