"""Tiny CIFAR-10 / CIFAR-100 sets in the original python format, written by Python's pickle.

Writes tests/fixtures/cifar/ (committed):
  cifar-10-batches-py/   data_batch_1..5 (2 images each), test_batch (3), batches.meta —
                         protocol 2 with bytes keys, as the distributed files (pickled by
                         Python 2) are read with encoding="bytes"
  cifar-100-python/      train (4), test (3), meta — protocol 4 with str keys, as a Python 3
                         re-export holds them
  expected.npz           what torchvision's CIFAR10/CIFAR100 datasets yield for each split:
                         images [N, 32, 32, 3] uint8 (HWC, Image.fromarray's input), labels
  bad/                   test_batch truncated; a meta whose labels are not strings
  zeroshot.json          OpenAI-notebook zero-shot on each test split with the tiny full-vocabulary
                         model (tests/fixtures/models/tiny-vocab): CIFAR's 18 templates and
                         class names from crates/clip-zeroshot/data, images through
                         Image.fromarray and clip's _transform; per-image top-1/top-5 hits

Run: .venv/bin/python tests/reference/cifar_fixtures.py
"""

import pickle
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "cifar"


def batch(rng, n, classes, fine):
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(x) for x in rng.integers(0, classes, size=n)]
    return data, labels


def hwc(data):
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def main():
    rng = np.random.default_rng(0)
    expected = {}

    ten = ROOT / "cifar-10-batches-py"
    ten.mkdir(parents=True, exist_ok=True)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(ten / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in names], b"num_cases_per_batch": 2,
                     b"num_vis": 3072}, f, protocol=2)
    train_x, train_y = [], []
    for i in range(1, 6):
        x, y = batch(rng, 2, 10, False)
        with open(ten / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"batch_label": f"training batch {i} of 5".encode(), b"labels": y,
                         b"data": x, b"filenames": [b"a.png", b"b.png"]}, f, protocol=2)
        train_x.append(x)
        train_y += y
    x, y = batch(rng, 3, 10, False)
    with open(ten / "test_batch", "wb") as f:
        pickle.dump({b"batch_label": b"testing batch 1 of 1", b"labels": y, b"data": x,
                     b"filenames": [b"a.png", b"b.png", b"c.png"]}, f, protocol=2)
    expected["cifar10_train_images"] = hwc(np.concatenate(train_x))
    expected["cifar10_train_labels"] = np.array(train_y, dtype=np.int64)
    expected["cifar10_test_images"] = hwc(x)
    expected["cifar10_test_labels"] = np.array(y, dtype=np.int64)

    hundred = ROOT / "cifar-100-python"
    hundred.mkdir(parents=True, exist_ok=True)
    fine = [f"class{i}" for i in range(100)]
    with open(hundred / "meta", "wb") as f:
        pickle.dump({"fine_label_names": fine, "coarse_label_names": [f"super{i}" for i in range(20)]},
                    f, protocol=4)
    for split, n in [("train", 4), ("test", 3)]:
        x, y = batch(rng, n, 100, True)
        with open(hundred / split, "wb") as f:
            pickle.dump({"filenames": ["x.png"] * n, "batch_label": split, "fine_labels": y,
                         "coarse_labels": [v // 5 for v in y], "data": x}, f, protocol=4)
        expected[f"cifar100_{split}_images"] = hwc(x)
        expected[f"cifar100_{split}_labels"] = np.array(y, dtype=np.int64)

    np.savez(ROOT / "expected.npz", **expected)

    bad = ROOT / "bad" / "cifar-10-batches-py"
    bad.mkdir(parents=True, exist_ok=True)
    (bad / "batches.meta").write_bytes((ten / "batches.meta").read_bytes())
    whole = (ten / "test_batch").read_bytes()
    (bad / "test_batch").write_bytes(whole[: len(whole) // 2])
    bad_meta = ROOT / "bad-meta" / "cifar-10-batches-py"
    bad_meta.mkdir(parents=True, exist_ok=True)
    with open(bad_meta / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": list(range(10))}, f, protocol=2)
    (bad_meta / "test_batch").write_bytes(whole)
    zeroshot(expected)
    print("wrote", ROOT)


def zeroshot(expected):
    import json
    import torch
    from PIL import Image
    import clip
    from clip.clip import _transform
    from clip.model import build_model

    repo = ROOT.parents[2]
    state = torch.load(ROOT.parent / "models" / "tiny-vocab" / "state_dict.pt", map_location="cpu")
    model = build_model(state).float().eval()
    preprocess = _transform(model.visual.input_resolution)
    data = repo / "crates" / "clip-zeroshot" / "data"
    templates = (data / "cifar" / "templates.txt").read_text().splitlines()
    out = {}
    for name in ["cifar10", "cifar100"]:
        classes = (data / name / "classes.txt").read_text().splitlines()
        with torch.no_grad():
            weights = []
            for c in classes:
                t = model.encode_text(clip.tokenize([tpl.format(c) for tpl in templates]))
                t = t / t.norm(dim=-1, keepdim=True)
                t = t.mean(dim=0)
                weights.append(t / t.norm())
            weights = torch.stack(weights, dim=1)
            images = torch.stack([preprocess(Image.fromarray(img)) for img in expected[f"{name}_test_images"]])
            f = model.encode_image(images)
            f = f / f.norm(dim=-1, keepdim=True)
            logits = 100.0 * f @ weights
        labels = torch.tensor(expected[f"{name}_test_labels"])
        top5 = logits.topk(5, dim=1).indices
        out[name] = {
            "top1_hits": (top5[:, 0] == labels).tolist(),
            "top5_hits": (top5 == labels[:, None]).any(dim=1).tolist(),
            "logits": logits.tolist(),
        }
    (ROOT / "zeroshot.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
