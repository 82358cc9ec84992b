//! The CLIP paper's linear probe: L2-regularised multinomial logistic regression on frozen
//! image features (scikit-learn's `LogisticRegression(C)` with lbfgs), minimising
//! `Σ cross-entropy + ‖W‖² / (2C)` (the intercept is not penalised) to convergence.

mod lbfgs;
mod objective;

use ndarray::{Array1, Array2};

use crate::ZeroShotError;
use objective::Objective;
pub use objective::{FitReport, GRADIENT_TOLERANCE};

/// A fitted probe.
#[derive(Debug, Clone)]
pub struct LinearProbe {
    /// `[features, classes]`.
    weights: Array2<f64>,
    /// `[classes]`.
    bias: Array1<f64>,
    /// The label of each column (the labels seen in training, sorted).
    classes: Vec<usize>,
    /// How the fit ended.
    report: FitReport,
}

/// Features `[n, dim]` (row-major) and their labels.
#[derive(Debug, Clone, Copy)]
pub struct Features<'a> {
    /// `n · dim` values.
    pub values: &'a [f32],
    /// Feature width.
    pub dim: usize,
    /// `n` labels.
    pub labels: &'a [usize],
}

impl Features<'_> {
    fn matrix(&self) -> Result<Array2<f64>, ZeroShotError> {
        let n = self.labels.len();
        if self.dim == 0 || self.values.len() != n * self.dim {
            return Err(ZeroShotError::Probe(format!(
                "{} feature values for {n} labels of width {}",
                self.values.len(),
                self.dim
            )));
        }
        let data = self.values.iter().map(|&v| f64::from(v)).collect();
        Array2::from_shape_vec((n, self.dim), data).map_err(|e| ZeroShotError::Probe(e.to_string()))
    }
}

impl LinearProbe {
    /// An iteration cap far above what converging takes on CLIP features (a few thousand on
    /// the ill-conditioned test case), there only to bound a fit that cannot converge.
    pub const DEFAULT_MAX_ITERATIONS: u64 = 10_000;

    /// Fits on `train` with inverse regularisation strength `c` (the paper's default 0.316),
    /// iterating until the gradient is [`GRADIENT_TOLERANCE`] of its size at zero or
    /// `max_iterations` have run; [`LinearProbe::fit_report`] says which.
    pub fn fit(train: Features<'_>, c: f64, max_iterations: u64) -> Result<Self, ZeroShotError> {
        if !(c.is_finite() && c > 0.0) {
            return Err(ZeroShotError::Probe(format!("C must be positive, not {c}")));
        }
        let x = train.matrix()?;
        let mut classes: Vec<usize> = train.labels.to_vec();
        classes.sort_unstable();
        classes.dedup();
        if classes.len() < 2 {
            return Err(ZeroShotError::Probe(
                "the training features hold fewer than two classes".into(),
            ));
        }
        let targets = train
            .labels
            .iter()
            .map(|l| classes.binary_search(l).expect("label among the classes"))
            .collect();
        let objective = Objective::new(x, targets, classes.len(), c);
        let (weights, bias, report) = objective.minimise(max_iterations);
        Ok(LinearProbe {
            weights,
            bias,
            classes,
            report,
        })
    }

    /// How the fit ended: iterations, final gradient, whether it converged.
    pub fn fit_report(&self) -> &FitReport {
        &self.report
    }

    /// Class probabilities `[n, classes]` (columns in [`LinearProbe::classes`] order).
    pub fn probabilities(&self, values: &[f32], dim: usize) -> Result<Array2<f64>, ZeroShotError> {
        let n = values.len() / dim.max(1);
        let x = Features {
            values,
            dim,
            labels: &vec![0; n],
        }
        .matrix()?;
        if dim != self.weights.nrows() {
            return Err(ZeroShotError::Probe(format!(
                "features of width {dim} for a probe of width {}",
                self.weights.nrows()
            )));
        }
        let mut logits = x.dot(&self.weights) + &self.bias;
        for mut row in logits.rows_mut() {
            let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            row.mapv_inplace(|v| (v - max).exp());
            let sum = row.sum();
            row.mapv_inplace(|v| v / sum);
        }
        Ok(logits)
    }

    /// The most probable label of each row.
    pub fn predict(&self, values: &[f32], dim: usize) -> Result<Vec<usize>, ZeroShotError> {
        let probs = self.probabilities(values, dim)?;
        Ok(probs
            .rows()
            .into_iter()
            .map(|row| {
                let best = (0..row.len())
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(0);
                self.classes[best]
            })
            .collect())
    }

    /// Fraction of `test` predicted correctly.
    pub fn accuracy(&self, test: Features<'_>) -> Result<f64, ZeroShotError> {
        let predicted = self.predict(test.values, test.dim)?;
        let hits = predicted
            .iter()
            .zip(test.labels)
            .filter(|(p, l)| p == l)
            .count();
        Ok(hits as f64 / test.labels.len().max(1) as f64)
    }

    /// The label of each probability column.
    pub fn classes(&self) -> &[usize] {
        &self.classes
    }

    /// Weights `[features, classes]`.
    pub fn weights(&self) -> &Array2<f64> {
        &self.weights
    }

    /// Intercepts `[classes]`.
    pub fn bias(&self) -> &Array1<f64> {
        &self.bias
    }
}

/// One `C` of the validation sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    /// Inverse regularisation strength.
    pub c: f64,
    /// Accuracy on the validation features.
    pub val_accuracy: f64,
    /// How the fit ended.
    pub fit: FitReport,
}

/// The paper's validation sweep: fits each `C` on `train`, scores it on `val`, returns the
/// best `C` (the smallest among ties: the most regularised) and every point.
pub fn sweep_c(
    train: Features<'_>,
    val: Features<'_>,
    cs: &[f64],
    max_iterations: u64,
) -> Result<(f64, Vec<SweepPoint>), ZeroShotError> {
    let mut points = Vec::new();
    for &c in cs {
        let probe = LinearProbe::fit(train, c, max_iterations)?;
        points.push(SweepPoint {
            c,
            val_accuracy: probe.accuracy(val)?,
            fit: probe.report,
        });
    }
    let best = points
        .iter()
        .fold(None::<&SweepPoint>, |best, p| match best {
            Some(b) if b.val_accuracy >= p.val_accuracy => best,
            _ => Some(p),
        })
        .ok_or_else(|| ZeroShotError::Probe("no C to sweep".into()))?;
    Ok((best.c, points))
}

/// A probe fitted as the paper's evaluation does it.
#[derive(Debug, Clone)]
pub struct ProbeFit {
    /// Fitted on all the training features.
    pub probe: LinearProbe,
    /// The `C` it was fitted with.
    pub c: f64,
    /// The validation sweep that chose `C` (empty when `C` was given).
    pub sweep: Vec<SweepPoint>,
}

/// Fits with `c` when given; else sweeps [`default_cs`] fitting on four fifths of `train`
/// and scoring on the rest (every fifth row, by position), then refits the best `C` on all
/// of it.
pub fn fit_probe(train: Features<'_>, c: Option<f64>) -> Result<ProbeFit, ZeroShotError> {
    let (c, sweep) = match c {
        Some(c) => (c, Vec::new()),
        None => {
            let (mut fit_x, mut fit_y, mut val_x, mut val_y) = (vec![], vec![], vec![], vec![]);
            for (i, &label) in train.labels.iter().enumerate() {
                let row = &train.values[i * train.dim..(i + 1) * train.dim];
                let (x, y) = if i % 5 == 4 {
                    (&mut val_x, &mut val_y)
                } else {
                    (&mut fit_x, &mut fit_y)
                };
                x.extend_from_slice(row);
                y.push(label);
            }
            let part = |values, labels| Features {
                values,
                dim: train.dim,
                labels,
            };
            sweep_c(
                part(&fit_x, &fit_y),
                part(&val_x, &val_y),
                &default_cs(),
                LinearProbe::DEFAULT_MAX_ITERATIONS,
            )?
        }
    };
    let probe = LinearProbe::fit(train, c, LinearProbe::DEFAULT_MAX_ITERATIONS)?;
    Ok(ProbeFit { probe, c, sweep })
}

/// `C` values of the sweep: the paper's range 10⁻⁶ … 10⁶, in half decades (25 values,
/// 0.316 among them; the paper used 96 steps).
pub fn default_cs() -> Vec<f64> {
    (-12..=12).map(|i| 10f64.powf(i as f64 / 2.0)).collect()
}
