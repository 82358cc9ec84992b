//! The probe's objective and its gradient, minimised by [`super::lbfgs`].

use ndarray::{Array1, Array2, Axis, s};

use super::lbfgs::{self, Stop};

/// The fit has converged when the gradient's largest entry is this fraction of its value at
/// zero weights: relative, so the same on features of any scale or count (it grows with
/// both), and far below what changes a probability in its seventh digit.
pub const GRADIENT_TOLERANCE: f64 = 1e-10;

/// How a fit ended.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    /// L-BFGS iterations run.
    pub iterations: u64,
    /// `Σ cross-entropy + ‖W‖² / (2C)` at the result.
    pub objective: f64,
    /// The gradient's largest absolute entry at the result.
    pub gradient_norm: f64,
    /// The value of `gradient_norm` at which the fit counts as converged.
    pub gradient_tolerance: f64,
    /// Whether `gradient_norm` reached `gradient_tolerance`.
    pub converged: bool,
    /// Why the iteration stopped: `converged`, `max_iterations` or `stalled` (no step lowers
    /// the objective any more).
    pub stop: &'static str,
}

/// `Σ cross-entropy + ‖W‖² / (2C)` over centred features. The intercept is not penalised,
/// so centring changes nothing at the optimum (the intercept absorbs the mean) but removes
/// the features' common offset, which otherwise makes the problem far worse conditioned.
pub(super) struct Objective {
    /// Centred features `[n, dim]`.
    x: Array2<f64>,
    /// Column means removed from the features.
    mean: Array1<f64>,
    /// Class index of each row.
    targets: Vec<usize>,
    classes: usize,
    c: f64,
}

impl Objective {
    pub(super) fn new(x: Array2<f64>, targets: Vec<usize>, classes: usize, c: f64) -> Self {
        let mean = x.mean_axis(Axis(0)).expect("at least one row");
        Objective {
            x: x - &mean,
            mean,
            targets,
            classes,
            c,
        }
    }

    fn dim(&self) -> usize {
        self.x.ncols()
    }

    /// Value and gradient at `params` = `W` (`[dim, classes]`, row-major) then `b`.
    fn evaluate(&self, params: &Array1<f64>) -> (f64, Array1<f64>) {
        let (d, k) = (self.dim(), self.classes);
        let w = params
            .slice(s![..d * k])
            .into_shape_with_order((d, k))
            .expect("weights are [dim, classes]");
        let b = params.slice(s![d * k..]);
        // Logits, then in place: probabilities minus the one-hot targets.
        let mut z = self.x.dot(&w) + b;
        let mut value = 0.0;
        for (mut row, &y) in z.rows_mut().into_iter().zip(&self.targets) {
            let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            let lse = max + row.iter().map(|&v| (v - max).exp()).sum::<f64>().ln();
            value += lse - row[y];
            row.mapv_inplace(|v| (v - lse).exp());
            row[y] -= 1.0;
        }
        value += w.iter().map(|v| v * v).sum::<f64>() / (2.0 * self.c);
        let grad_w = self.x.t().dot(&z) + &w / self.c;
        let grad_b = z.sum_axis(Axis(0));
        let gradient = grad_w.iter().chain(grad_b.iter()).copied().collect();
        (value, gradient)
    }

    /// Minimises from zero: weights `[dim, classes]`, intercepts `[classes]` (summing to
    /// zero, as scikit-learn's) in the original, uncentred features, and how it ended.
    pub(super) fn minimise(&self, max_iterations: u64) -> (Array2<f64>, Array1<f64>, FitReport) {
        let (d, k) = (self.dim(), self.classes);
        let start = Array1::zeros((d + 1) * k);
        let (_, at_zero) = self.evaluate(&start);
        let tolerance = GRADIENT_TOLERANCE * at_zero.fold(0.0f64, |m, g| m.max(g.abs()));
        let found = lbfgs::minimise(|p| self.evaluate(p), start, tolerance, max_iterations);
        let report = FitReport {
            iterations: found.iterations,
            objective: found.value,
            gradient_norm: found.gradient_max,
            gradient_tolerance: tolerance,
            converged: found.stop == Stop::Converged,
            stop: match found.stop {
                Stop::Converged => "converged",
                Stop::MaxIterations => "max_iterations",
                Stop::Stalled => "stalled",
            },
        };
        let weights = found
            .x
            .slice(s![..d * k])
            .into_shape_with_order((d, k))
            .expect("weights are [dim, classes]")
            .to_owned();
        // Back to uncentred features: x·W + b = (x − μ)·W + (b − μ·W).
        let mut bias = found.x.slice(s![d * k..]).to_owned() - self.mean.dot(&weights);
        let shift = bias.mean().unwrap_or(0.0);
        bias -= shift;
        (weights, bias, report)
    }
}
