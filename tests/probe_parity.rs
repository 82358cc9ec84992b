//! The linear probe against scikit-learn's `LogisticRegression` (lbfgs, L2) on fixed
//! features (`reference/probe_fixtures.py`): weights, test probabilities and predictions for
//! three values of C, and the validation sweep's choice.

use clip_tests::{fixture, read_npz};
use clip_zeroshot::{Features, LinearProbe, sweep_c};

fn f32s(a: &ndarray::ArrayD<f64>) -> Vec<f32> {
    a.iter().map(|&v| v as f32).collect()
}

fn usizes(a: &ndarray::ArrayD<f64>) -> Vec<usize> {
    a.iter().map(|&v| v as usize).collect()
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
    let (best, scores) = sweep_c(train, test, &cs, 1000).unwrap();
    let accuracies: Vec<f64> = (0..cs.len())
        .map(|i| r[&format!("accuracy_{i}")][[0]])
        .collect();
    let top = accuracies.iter().cloned().fold(f64::MIN, f64::max);
    assert_eq!(best, cs[accuracies.iter().position(|&a| a == top).unwrap()]);
    assert_eq!(scores.len(), cs.len());
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
