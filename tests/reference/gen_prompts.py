"""Writes the zero-shot prompt data of crates/clip-zeroshot/data/ (class names and
templates are facts; these are OpenAI's, from its prompt collection `data/prompts.md` and
its ImageNet notebook).

ImageNet's 1000 class names, 80 templates and the 7-template subset are read from the
`open_clip_torch` wheel on PyPI (`open_clip/zero_shot_metadata.py`, MIT), which holds
OpenAI's lists; CIFAR's are written out below. Install with
`.venv/bin/pip install --no-deps open_clip_torch` and run from the repository root:
`.venv/bin/python tests/reference/gen_prompts.py`.
"""

import importlib.util
import os
import sysconfig

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "clip-zeroshot", "data")

CIFAR10_CLASSES = "airplane automobile bird cat deer dog frog horse ship truck".split()

CIFAR100_CLASSES = """apple|aquarium fish|baby|bear|beaver|bed|bee|beetle|bicycle|bottle|bowl|boy|bridge|bus|
butterfly|camel|can|castle|caterpillar|cattle|chair|chimpanzee|clock|cloud|cockroach|couch|crab|crocodile|
cup|dinosaur|dolphin|elephant|flatfish|forest|fox|girl|hamster|house|kangaroo|keyboard|lamp|lawn mower|
leopard|lion|lizard|lobster|man|maple tree|motorcycle|mountain|mouse|mushroom|oak tree|orange|orchid|otter|
palm tree|pear|pickup truck|pine tree|plain|plate|poppy|porcupine|possum|rabbit|raccoon|ray|road|rocket|
rose|sea|seal|shark|shrew|skunk|skyscraper|snail|snake|spider|squirrel|streetcar|sunflower|sweet pepper|
table|tank|telephone|television|tiger|tractor|train|trout|tulip|turtle|wardrobe|whale|willow tree|wolf|
woman|worm""".replace("\n", "").split("|")

CIFAR_TEMPLATES = [
    f"a {quality}photo of {article} {size}{{}}."
    for article in ("a", "the")
    for quality, size in [("", ""), ("blurry ", ""), ("black and white ", ""), ("low contrast ", ""),
                          ("high contrast ", ""), ("bad ", ""), ("good ", ""), ("", "small "), ("", "big ")]
]


def open_clip_metadata():
    path = os.path.join(sysconfig.get_paths()["purelib"], "open_clip", "zero_shot_metadata.py")
    spec = importlib.util.spec_from_file_location("zero_shot_metadata", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # plain tuples of strings and lambdas; imports nothing
    return module


def write(relative, lines):
    path = os.path.join(OUT, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{relative}: {len(lines)} lines")


def main():
    meta = open_clip_metadata()
    write("imagenet/classes.txt", list(meta.IMAGENET_CLASSNAMES))
    write("imagenet/templates.txt", [t("{}") for t in meta.OPENAI_IMAGENET_TEMPLATES])
    write("imagenet/templates_7.txt", [t("{}") for t in meta.SIMPLE_IMAGENET_TEMPLATES])
    assert len(CIFAR100_CLASSES) == 100 and len(CIFAR_TEMPLATES) == 18
    write("cifar10/classes.txt", CIFAR10_CLASSES)
    write("cifar100/classes.txt", CIFAR100_CLASSES)
    write("cifar/templates.txt", CIFAR_TEMPLATES)


if __name__ == "__main__":
    main()
