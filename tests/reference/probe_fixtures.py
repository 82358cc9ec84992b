"""The CLIP paper's linear probe (scikit-learn's LogisticRegression, L2, lbfgs) on fixed features.

Writes tests/fixtures/probe/reference.npz (committed): train/test features (three Gaussian
classes in 16 dimensions, overlapping so the penalty matters) and labels; for C in CS the
fitted coef [K, F], intercept [K], test probabilities [N, K] and predictions, and the test
accuracy of each C.

Writes tests/fixtures/probe/ill_conditioned.npz (committed): an ill-conditioned 10-class case
at C = 0.316 on which lbfgs needs thousands of iterations (issue 22). 150 training and 150
test rows of 48 features that mix 8 latent class dimensions (strongly correlated columns),
shifted by a common offset and scaled over two decades (Hessian condition ~5e7). Holds the
optimum (sklearn's newton-cholesky to tol 1e-12: coef, intercept, test probabilities,
predictions, accuracy, the objective `Σ cross-entropy + ‖W‖²/(2C)` and its gradient's max
norm) and, to show what a test against it catches, the same for lbfgs run to convergence
(`lbfgs_*`, incl. n_iter) and stopped at max_iter=1000 and 100 (`lbfgs1000_*`, `lbfgs100_*`).

Run: .venv/bin/python tests/reference/probe_fixtures.py
"""

import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "probe"
CS = [0.01, 0.316, 10.0]


def easy():
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


def objective(x, y, coef, intercept, c):
    """`Σ cross-entropy + ‖W‖²/(2C)` (the intercept unpenalised) and the max norm of its
    gradient in (coef, intercept)."""
    z = x @ coef.T + intercept
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    rows = np.arange(len(y))
    value = -(z[rows, y] - lse).sum() + (coef ** 2).sum() / (2 * c)
    d = np.exp(z - lse[:, None])
    d[rows, y] -= 1
    grad = max(np.abs(d.T @ x + coef / c).max(), np.abs(d.sum(axis=0)).max())
    return value, grad


def ill_conditioned():
    c = 0.316
    k, f, latent = 10, 48, 8
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 1.0, size=(k, latent))
    mix = rng.normal(0, 1.0, size=(latent, f))
    scales = 10 ** np.linspace(-1, 1, f)
    rng.shuffle(scales)
    offset = rng.normal(0, 1.0, size=f) * 3.0
    def draw(n):
        y = np.arange(n) % k
        rng.shuffle(y)
        z = centres[y] + rng.normal(0, 1.5, size=(n, latent))
        x = (z @ mix + rng.normal(0, 0.05, size=(n, f)) + offset) * scales
        return x.astype(np.float32), y.astype(np.int64)
    xtr, ytr = draw(150)
    xte, yte = draw(150)
    x, xt = xtr.astype(np.float64), xte.astype(np.float64)
    out = {"train_features": xtr, "train_labels": ytr, "test_features": xte, "test_labels": yte,
           "c": np.array([c])}
    zero = objective(x, ytr, np.zeros((k, f)), np.zeros(k), c)
    out["grad_at_zero"] = np.array([zero[1]])
    fits = {
        "": LogisticRegression(C=c, solver="newton-cholesky", max_iter=1000, tol=1e-12),
        "lbfgs_": LogisticRegression(C=c, max_iter=100_000, tol=1e-10),
        "lbfgs1000_": LogisticRegression(C=c, max_iter=1000),
        "lbfgs100_": LogisticRegression(C=c, max_iter=100),
    }
    best = None
    for prefix, clf in fits.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x, ytr)
        value, grad = objective(x, ytr, clf.coef_, clf.intercept_, c)
        pred = clf.predict(xt).astype(np.int64)
        out[f"{prefix}coef"] = clf.coef_
        out[f"{prefix}intercept"] = clf.intercept_
        out[f"{prefix}pred"] = pred
        out[f"{prefix}accuracy"] = np.array([(pred == yte).mean()])
        out[f"{prefix}objective"] = np.array([value])
        out[f"{prefix}grad"] = np.array([grad])
        out[f"{prefix}n_iter"] = np.array([int(clf.n_iter_[0])])
        if best is None:
            best = clf
            out["probs"] = clf.predict_proba(xt)
        dw = np.abs(clf.coef_ - best.coef_).max() / np.abs(best.coef_).max()
        print(f"{prefix or 'optimum_'}: {clf.n_iter_[0]} iterations, objective {value:.12f} "
              f"(+{value - out['objective'][0]:.1e}), max|grad| {grad:.1e}, weights off by "
              f"{dw:.1e} (relative), test {(pred == yte).sum()}/{len(yte)}")
    # The optimum is one (Newton's quadratic convergence), lbfgs run to convergence agrees
    # with it, and the test rows are not near ties, so predictions are stable under 1e-5.
    assert out["grad"][0] < 1e-9 * zero[1], out["grad"]
    assert (out["lbfgs_pred"] == out["pred"]).all()
    logits = np.sort(xt @ best.coef_.T + best.intercept_, axis=1)
    assert (logits[:, -1] - logits[:, -2]).min() > 1e-4
    # A solver stopped at 1000 iterations is measurably off.
    weak = np.abs(out["lbfgs1000_coef"] - best.coef_).max() / np.abs(best.coef_).max()
    assert weak > 1e-2 and out["lbfgs1000_objective"][0] - out["objective"][0] > 1e-3, weak
    np.savez(ROOT / "ill_conditioned.npz", **out)


def main():
    easy()
    ill_conditioned()


if __name__ == "__main__":
    main()
