"""The CLIP paper's linear probe (scikit-learn's LogisticRegression, L2, lbfgs) on fixed features.

Writes tests/fixtures/probe/reference.npz (committed): train/test features (three Gaussian
classes in 16 dimensions, overlapping so the penalty matters) and labels; for C in CS the
fitted coef [K, F], intercept [K], test probabilities [N, K] and predictions, and the test
accuracy of each C.

Run: .venv/bin/python tests/reference/probe_fixtures.py
"""

from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "probe"
CS = [0.01, 0.316, 10.0]


def main():
    rng = np.random.default_rng(0)
    k, f = 3, 16
    centres = rng.normal(0, 1.0, size=(k, f))
    def draw(n):
        y = rng.integers(0, k, size=n)
        x = centres[y] + rng.normal(0, 1.5, size=(n, f))
        return x.astype(np.float32), y.astype(np.int64)
    xtr, ytr = draw(90)
    xte, yte = draw(45)
    out = {"train_features": xtr, "train_labels": ytr, "test_features": xte, "test_labels": yte,
           "cs": np.array(CS)}
    for i, c in enumerate(CS):
        clf = LogisticRegression(C=c, max_iter=1000, tol=1e-8).fit(xtr.astype(np.float64), ytr)
        out[f"coef_{i}"] = clf.coef_
        out[f"intercept_{i}"] = clf.intercept_
        out[f"probs_{i}"] = clf.predict_proba(xte.astype(np.float64))
        out[f"pred_{i}"] = clf.predict(xte.astype(np.float64)).astype(np.int64)
        out[f"accuracy_{i}"] = np.array([(clf.predict(xte) == yte).mean()])
        print(f"C={c}: test accuracy {out[f'accuracy_{i}'][0]:.3f}")
    ROOT.mkdir(parents=True, exist_ok=True)
    np.savez(ROOT / "reference.npz", **out)


if __name__ == "__main__":
    main()
