//! The linear probe against scikit-learn's `LogisticRegression` (lbfgs, L2) on fixed
//! features (`reference/probe_fixtures.py`): weights, test probabilities and predictions for
//! three values of C, and the validation sweep's choice; and, on an ill-conditioned case,
//! against the optimum itself (issue 22).

use clip_tests::{fixture, read_npz};
use clip_zeroshot::{Features, LinearProbe, sweep_c};

fn f32s(a: &ndarray::ArrayD<f64>) -> Vec<f32> {
    a.iter().map(|&v| v as f32).collect()
}

fn usizes(a: &ndarray::ArrayD<f64>) -> Vec<usize> {
    a.iter().map(|&v| v as usize).collect()
}

fn f64s(a: &ndarray::ArrayD<f64>) -> Vec<f64> {
    a.iter().copied().collect()
}

/// The probe's objective `Σ cross-entropy + ‖W‖² / (2C)` (the intercept unpenalised) at
/// `coef` (`[classes, dim]`, row-major, sklearn's layout) and `intercept` (`[classes]`), with
/// labels `0..classes`.
fn objective(
    x: &[f32],
    dim: usize,
    labels: &[usize],
    coef: &[f64],
    intercept: &[f64],
    c: f64,
) -> f64 {
    let mut logits = vec![0.0f64; intercept.len()];
    let mut total = 0.0f64;
    for (row, &label) in x.chunks(dim).zip(labels) {
        for (k, logit) in logits.iter_mut().enumerate() {
            let weights = &coef[k * dim..(k + 1) * dim];
            *logit = intercept[k]
                + row
                    .iter()
                    .zip(weights)
                    .map(|(&v, &w)| f64::from(v) * w)
                    .sum::<f64>();
        }
        let max = logits.iter().fold(f64::NEG_INFINITY, |m, &z| m.max(z));
        let lse = max + logits.iter().map(|&z| (z - max).exp()).sum::<f64>().ln();
        total += lse - logits[label];
    }
    total + coef.iter().map(|w| w * w).sum::<f64>() / (2.0 * c)
}

#[test]
fn matches_scikit_learn() {
    let r = read_npz(&fixture("probe/reference.npz"));
    let dim = r["train_features"].shape()[1];
    let (xtr, ytr) = (f32s(&r["train_features"]), usizes(&r["train_labels"]));
    let (xte, yte) = (f32s(&r["test_features"]), usizes(&r["test_labels"]));
    let train = Features {
        values: &xtr,
        dim,
        labels: &ytr,
    };
    let test = Features {
        values: &xte,
        dim,
        labels: &yte,
    };
    let cs: Vec<f64> = r["cs"].iter().copied().collect();
    for (i, &c) in cs.iter().enumerate() {
        let probe = LinearProbe::fit(train, c, 1000).unwrap();
        // sklearn's coef_ is [K, F]; ours [F, K].
        let coef = &r[&format!("coef_{i}")];
        let scale = coef.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let mut worst: f64 = 0.0;
        for k in 0..coef.shape()[0] {
            for f in 0..dim {
                worst = worst.max((probe.weights()[[f, k]] - coef[[k, f]]).abs() / scale);
            }
        }
        assert!(
            worst <= 1e-4,
            "C={c}: weights differ by {worst:.2e} (relative)"
        );
        let probs = probe.probabilities(&xte, dim).unwrap();
        let want = &r[&format!("probs_{i}")];
        let diff = probs
            .iter()
            .zip(want.iter())
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff <= 1e-5, "C={c}: probabilities differ by {diff:.2e}");
        assert_eq!(
            probe.predict(&xte, dim).unwrap(),
            usizes(&r[&format!("pred_{i}")]),
            "C={c}"
        );
        let accuracy = probe.accuracy(test).unwrap();
        assert_eq!(accuracy, r[&format!("accuracy_{i}")][[0]], "C={c}");
        eprintln!(
            "C={c}: weights within {worst:.1e}, probabilities within {diff:.1e}, accuracy {accuracy:.3}"
        );
    }
    // The sweep picks the C with the best accuracy on the held-out split.
    let (best, scores) = sweep_c(train, test, &cs, LinearProbe::DEFAULT_MAX_ITERATIONS).unwrap();
    let accuracies: Vec<f64> = (0..cs.len())
        .map(|i| r[&format!("accuracy_{i}")][[0]])
        .collect();
    let top = accuracies.iter().cloned().fold(f64::MIN, f64::max);
    assert_eq!(best, cs[accuracies.iter().position(|&a| a == top).unwrap()]);
    assert_eq!(scores.len(), cs.len());
    assert!(scores.iter().all(|p| p.fit.converged), "{scores:?}");
}

/// Issue 22: a 10-class probe at C = 0.316 on correlated, offset features scaled over two
/// decades (`ill_conditioned.npz`; Hessian condition ~5e7). scikit-learn's lbfgs takes 4,537
/// iterations and still stops (on its relative-cost test) with the weights 4.7e-4 off;
/// max_iter=1000 leaves them 40% off and gets 67/150 test rows right instead of 69. The
/// reference is the optimum itself (sklearn's newton-cholesky, max |gradient| 2e-12), and the
/// fit must reach it: weights within 1e-6, objective within 1e-12 (relative).
#[test]
fn converges_on_an_ill_conditioned_probe() {
    let r = read_npz(&fixture("probe/ill_conditioned.npz"));
    let dim = r["train_features"].shape()[1];
    let (xtr, ytr) = (f32s(&r["train_features"]), usizes(&r["train_labels"]));
    let (xte, yte) = (f32s(&r["test_features"]), usizes(&r["test_labels"]));
    let c = r["c"][[0]];
    let optimum = r["objective"][[0]];
    let coef = &r["coef"];
    let classes = coef.shape()[0];
    // The fixture itself: the objective is where sklearn's optimum says, and the lbfgs fit
    // stopped at 1000 iterations is measurably above it (so this test can fail).
    let at_optimum = objective(&xtr, dim, &ytr, &f64s(coef), &f64s(&r["intercept"]), c);
    assert!(
        (at_optimum - optimum).abs() <= 1e-12 * optimum,
        "objective at the fixture's optimum: {at_optimum} vs {optimum}"
    );
    let stopped = objective(
        &xtr,
        dim,
        &ytr,
        &f64s(&r["lbfgs1000_coef"]),
        &f64s(&r["lbfgs1000_intercept"]),
        c,
    );
    assert!(stopped > optimum * (1.0 + 1e-4), "{stopped} vs {optimum}");

    let train = Features {
        values: &xtr,
        dim,
        labels: &ytr,
    };
    let probe = LinearProbe::fit(train, c, 100_000).unwrap();
    let report = probe.fit_report();
    assert!(report.converged, "{report:?}");
    assert!(
        report.gradient_norm <= report.gradient_tolerance,
        "{report:?}"
    );
    assert!(
        report.iterations > 0 && report.iterations < 100_000,
        "{report:?}"
    );
    eprintln!(
        "{} iterations (scikit-learn's lbfgs: {}), gradient norm {:.1e}",
        report.iterations,
        r["lbfgs_n_iter"][[0]],
        report.gradient_norm
    );
    assert_eq!(probe.classes(), (0..classes).collect::<Vec<_>>().as_slice());
    let scale = coef.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut ours = vec![0.0f64; classes * dim];
    let mut worst: f64 = 0.0;
    for k in 0..classes {
        for f in 0..dim {
            let w = probe.weights()[[f, k]];
            ours[k * dim + f] = w;
            worst = worst.max((w - coef[[k, f]]).abs() / scale);
        }
    }
    let bias: Vec<f64> = (0..classes).map(|k| probe.bias()[k]).collect();
    let value = objective(&xtr, dim, &ytr, &ours, &bias, c);
    assert!(
        (report.objective - value).abs() <= 1e-12 * value,
        "reported {} vs {value}",
        report.objective
    );
    assert!(
        value <= optimum * (1.0 + 1e-12),
        "objective {value} is {:.2e} (relative) above the optimum {optimum}",
        (value - optimum) / optimum
    );
    assert!(worst <= 1e-6, "weights differ by {worst:.2e} (relative)");
    let probs = probe.probabilities(&xte, dim).unwrap();
    let diff = probs
        .iter()
        .zip(r["probs"].iter())
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff <= 1e-7, "probabilities differ by {diff:.2e}");
    assert_eq!(probe.predict(&xte, dim).unwrap(), usizes(&r["pred"]));
    let test = Features {
        values: &xte,
        dim,
        labels: &yte,
    };
    let accuracy = probe.accuracy(test).unwrap();
    assert_eq!(accuracy, r["accuracy"][[0]]);
    eprintln!(
        "ill-conditioned: weights within {worst:.1e}, objective +{:.1e}, probabilities within \
         {diff:.1e}, accuracy {accuracy:.3}",
        (value - optimum) / optimum
    );
}

/// A fit cut short by its iteration cap says so.
#[test]
fn a_fit_stopped_early_reports_it() {
    let r = read_npz(&fixture("probe/ill_conditioned.npz"));
    let dim = r["train_features"].shape()[1];
    let (x, y) = (f32s(&r["train_features"]), usizes(&r["train_labels"]));
    let train = Features {
        values: &x,
        dim,
        labels: &y,
    };
    let probe = LinearProbe::fit(train, r["c"][[0]], 20).unwrap();
    let report = probe.fit_report();
    assert_eq!(report.iterations, 20, "{report:?}");
    assert!(!report.converged, "{report:?}");
    assert!(
        report.gradient_norm > report.gradient_tolerance,
        "{report:?}"
    );
    assert!(report.objective > r["objective"][[0]], "{report:?}");
}

#[test]
fn rejects_bad_input() {
    let labels = [0usize, 0, 0];
    let values = [1.0f32, 2.0, 3.0];
    let one_class = Features {
        values: &values,
        dim: 1,
        labels: &labels,
    };
    assert!(
        LinearProbe::fit(one_class, 1.0, 100)
            .unwrap_err()
            .to_string()
            .contains("two classes")
    );
    let labels = [0usize, 1];
    let wrong = Features {
        values: &values,
        dim: 1,
        labels: &labels,
    };
    assert!(LinearProbe::fit(wrong, 1.0, 100).is_err());
    let ok = Features {
        values: &values[..2],
        dim: 1,
        labels: &labels,
    };
    assert!(
        LinearProbe::fit(ok, -1.0, 100)
            .unwrap_err()
            .to_string()
            .contains("positive")
    );
}
