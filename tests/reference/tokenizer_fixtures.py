"""Writes the tokenizer parity fixtures from OpenAI's reference tokenizer.

For every text of a seeded, varied corpus it records what each reference
cleaning step returns and the token ids, so the Rust tests can check every
step and the result:

  tests/fixtures/tokenizer/reference.jsonl   one JSON object per text:
      text     the input
      ftfy     ftfy.fix_text(text)
      basic    simple_tokenizer.basic_clean(text)
      clean    whitespace_clean(basic_clean(text)).lower()
      ids      SimpleTokenizer().encode(text)
      decoded  SimpleTokenizer().decode(ids)
  tests/fixtures/tokenizer/lines.txt         the single-line texts, one a line
  tests/fixtures/tokenizer/lines_ids.npy     clip.tokenize(lines, truncate=True), int64

Run from the repository root with the reference environment
(tests/reference/requirements.txt):  python tests/reference/tokenizer_fixtures.py
"""
import json
import pathlib
import random

import ftfy
import numpy as np
from clip import clip
from clip.simple_tokenizer import SimpleTokenizer, basic_clean, whitespace_clean

OUT = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "tokenizer"
rng = random.Random(20261122)

CAPTIONS = [
    "a photo of a cat", "hello world", "A dog running on the beach at sunset.",
    "Two children play soccer in a grassy field", "a black and white photo of the Eiffel Tower",
    "A man in a red jacket rides a bicycle down a busy street.", "a bowl of ramen with a soft-boiled egg",
    "The quick brown fox jumps over the lazy dog", "an aerial view of a city at night",
    "a close-up photo of a ladybug on a leaf", "Portrait of an elderly woman, oil on canvas",
    "A diagram of the water cycle", "a blurry photo of a train", "a tattoo of a dragon",
    "a sculpture of a horse", "itap of a camera", "a low resolution photo of the airplane",
]
CONTRACTIONS = [
    "it's", "don't", "we're", "they've", "I'm", "you'll", "he'd", "IT'S", "Don'T",
    "rock'n'roll", "'s'", "'''", "o'clock", "can't won't shouldn't", "y'all'd've",
    "the dog's ball", "'ll'll'll", "'d 'm 're 've 't 's", "'ſ", "’s curly", "it‘s",
]
PUNCT = [
    "!!!", "?!?!", "...", "—", "--", "()[]{}", "@#$%^&*", ":-)", ";-(", "<3", "->", "=>",
    "a,b;c:d", "«quoted»", "„German“", "「Japanese」", "¿Qué?", "¡Hola!", "…", "• bullet",
    "~~~~", "____", "////", "\\\\", "|||", "<|startoftext|>", "<|endoftext|>",
    "<|STARTOFTEXT|> shouting", "x<|endoftext|>y", "<|startoftext|", "|endoftext|>",
]
NUMBERS = [
    "123", "3.14159", "1,000,000", "2026-11-22", "10:45pm", "No. 7", "42nd street",
    "٣٤٥", "१२३", "一二三", "①②③", "²³", "½ cup", "Ⅻ", "0x1F", "1e-5", "$19.99", "100%",
    "𝟙𝟚𝟛", "１２３",
]
EMOJI = [
    "🐱", "🐶🐕", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇯🇵🇺🇸", "a 🍕 party", "🤷‍♂️ dunno",
    "👩🏾‍💻 coding", "☕︎", "✈️ travel", "🧑‍🚀", "😀😃😄😁😆😅😂🤣",
]
SCRIPTS = [
    "猫の写真", "一只猫的照片", "고양이 사진", "صورة قطة", "Фотография кошки", "Φωτογραφία μιας γάτας",
    "תמונה של חתול", "बिल्ली की तस्वीर", "รูปแมว", "ảnh một con mèo", "Ελληνικά ΣΊΣΥΦΟΣ",
    "İstanbul", "straße STRASSE", "ǅemal", "ﬁnance ﬂow", "Ǆ ǆ ǅ", "ΌΣΟΣ", "ქართული", "Հայերեն",
    "ᚠᛇᚻ", "𐌰𐌱𐌲", "ꓐꓑꓒ", "ᏣᎳᎩ", "Ⲁⲃⲅ",
]
COMBINING = [
    "e\u0301", "cafe\u0301", "n\u0303o", "a\u0308\u0304", "Z\u0351\u0352\u0353a\u0334\u0335",
    "\u0301leading", "i\u0307", "A\u030a", "ḱ", "q\u0323\u0307",
]
HTML = [
    "&amp;", "Tom &amp; Jerry", "&lt;b&gt;bold&lt;/b&gt;", "&amp;amp;", "&amp;amp;amp;lt;",
    "&#39;quoted&#39;", "&#x27;hex&#x27;", "&quot;hi&quot;", "&nbsp;space", "&copy; 2020",
    "&eacute;t&eacute;", "&notit;", "&notin;", "&hearts;", "&NotEqualTilde;", "&#128512;",
    "&#0;", "&#x110000;", "&#xD800;", "&#150;", "&#x81;", "5 &lt 6", "AT&T", "R&D; dept",
    "a &amp b", "<b>bold &amp; brave</b>", "fish &amp; chips <3", "&amp;#39;", "&#38;#39;",
    "&AElig &AMP", "&unknownentity;", "&#12345678901234567890;",
]
FULLWIDTH = ["ＦＵＬＬＷＩＤＴＨ", "ｈｅｌｌｏ　ｗｏｒｌｄ", "ｶﾀｶﾅ", "Ａ１！", "（全角）"]
CONTROL = [
    "tab\there", "new\nline", "cr\rlf\r\n", "nul\x00byte", "bell\x07", "esc\x1b[31mred\x1b[0m",
    "form\x0cfeed", "vt\x0btab", "del\x7f", "c1\x85next", "c1\x9bctl", "zero\u200bwidth",
    "bom\ufeffmark", "rtl\u202emark", "soft\u00adhyphen", "\x1c\x1d\x1e\x1fsep", "word\u2028sep",
    "  leading and trailing  ", "\u3000ideographic\u3000space", "nbsp\u00a0here", "\u2003em\u2002en",
]
QUOTES = ["“smart quotes”", "‘single’", "„low“", "‹angle›", "´acute´", "′prime′"]
LIGATURES = ["ﬁ", "ﬂ", "ﬀ", "ﬃ", "ﬄ", "ﬅ", "ﬆ", "Ĳ", "œuvre"]


def mojibake(text):
    """UTF-8 bytes read as another single-byte encoding (what ftfy repairs)."""
    out = []
    for enc in ("cp1252", "latin-1", "cp437", "macroman"):
        try:
            out.append(text.encode("utf-8").decode(enc))
        except UnicodeDecodeError:
            pass
    return out


MOJIBAKE_SOURCES = ["café", "naïve résumé", "“quoted”", "don’t", "Ωmega", "日本語", "über €5", "🐱 cat",
                    "señor", "crème brûlée", "—dash—", "…"]

RANDOM_BLOCKS = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
                 (0x900, 0x97F), (0x1E00, 0x1EFF), (0x2000, 0x206F), (0x2100, 0x21FF), (0x3040, 0x30FF),
                 (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0xFF00, 0xFFEF), (0x1F300, 0x1F64F), (0x300, 0x36F),
                 (0x80, 0x9F), (0xFB00, 0xFB4F), (0x1D400, 0x1D4FF)]


def random_text(n):
    chars = []
    for _ in range(n):
        lo, hi = rng.choice(RANDOM_BLOCKS)
        cp = rng.randint(lo, hi)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        chars.append(chr(cp))
        if rng.random() < 0.2:
            chars.append(" ")
    return "".join(chars)


def corpus():
    texts = []
    groups = [CAPTIONS, CONTRACTIONS, PUNCT, NUMBERS, EMOJI, SCRIPTS, COMBINING, HTML, FULLWIDTH,
              CONTROL, QUOTES, LIGATURES]
    for group in groups:
        texts.extend(group)
    for src in MOJIBAKE_SOURCES:
        for bad in mojibake(src):
            texts.append(bad)
            texts.append(f"The menu said {bad} today")
        texts.append(mojibake(mojibake(src)[0])[0])  # double mojibake
    # Mixtures: a caption with pieces of every other group spliced in.
    pool = [t for g in groups for t in g]
    for _ in range(220):
        parts = [rng.choice(CAPTIONS)]
        for _ in range(rng.randint(1, 4)):
            parts.insert(rng.randint(0, len(parts)), rng.choice(pool))
        sep = rng.choice([" ", "", "  ", "\t", " - "])
        text = sep.join(parts)
        if rng.random() < 0.3:
            text = text.upper()
        texts.append(text)
    for _ in range(120):
        texts.append(random_text(rng.randint(1, 40)))
    # Long texts, beyond 77 tokens.
    for k in range(12):
        words = [rng.choice(CAPTIONS) for _ in range(rng.randint(8, 30))]
        texts.append(" and ".join(words) + (" 🐱" * k))
    texts.append("supercalifragilisticexpialidocious" * 20)
    texts.append("a" * 500)
    texts.append("ab" * 300 + "!")
    texts.append("")
    texts.append("   ")
    # Order-preserving de-duplication.
    seen, unique = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t)
            unique.append(t)
    return unique


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    tok = SimpleTokenizer()
    texts = corpus()
    with open(OUT / "reference.jsonl", "w", encoding="utf-8") as f:
        for text in texts:
            ids = tok.encode(text)
            record = {
                "text": text,
                "ftfy": ftfy.fix_text(text),
                "basic": basic_clean(text),
                "clean": whitespace_clean(basic_clean(text)).lower(),
                "ids": ids,
                "decoded": tok.decode(ids),
            }
            f.write(json.dumps(record, ensure_ascii=True) + "\n")
    lines = [t for t in texts if "\n" not in t and "\r" not in t and "\x85" not in t
             and "\u2028" not in t and "\u2029" not in t]
    # Python's str.splitlines() also breaks on \x0b \x0c \x1c-\x1e; keep the file
    # splittable on "\n" alone, which is what `cargo xtask tokenize` reads.
    (OUT / "lines.txt").write_text("".join(t + "\n" for t in lines), encoding="utf-8")
    np.save(OUT / "lines_ids.npy", clip.tokenize(lines, truncate=True).numpy().astype(np.int64))
    print(f"{len(texts)} texts, {len(lines)} lines -> {OUT}")


if __name__ == "__main__":
    main()
