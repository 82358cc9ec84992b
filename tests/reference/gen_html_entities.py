"""Writes the entity tables the tokenizer's cleaning needs, from the reference.

- crates/clip-tokenizer/data/html5_entities.tsv: `html.entities.html5`, which
  `html.unescape` uses (including the legacy names without a trailing ';').
- crates/clip-tokenizer/data/ftfy_entities.tsv: `ftfy.chardata.HTML_ENTITIES`,
  the table of ftfy's own `unescape_html` (names with ';', plus upper-cased
  variants of lower-case names).

Each line is `name<TAB>code points in hex, space separated`.
Run: python tests/reference/gen_html_entities.py   (needs ftfy, see requirements.txt)
"""
import html.entities
import pathlib

from ftfy.chardata import HTML_ENTITIES

data = pathlib.Path(__file__).resolve().parents[2] / "crates/clip-tokenizer/data"


def write(name, table):
    lines = [key + "\t" + " ".join(f"{ord(c):X}" for c in value) for key, value in sorted(table.items())]
    (data / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} entities to {data / name}")


write("html5_entities.tsv", html.entities.html5)
write("ftfy_entities.tsv", {k[1:-1]: v for k, v in HTML_ENTITIES.items()})
