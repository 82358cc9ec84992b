//! L-BFGS (10 pairs) with a strong-Wolfe line search that also accepts Hager and Zhang's
//! approximate Wolfe condition.
//!
//! Written here rather than taken from argmin because argmin 0.11 stops short on the
//! ill-conditioned probe fixture (`tests/fixtures/probe/ill_conditioned.npz`): its
//! More–Thuente search ends with "search direction must be a descent direction" at a gradient
//! 1.2e-9 of its size at zero, even restarted, and its Hager–Zhang search fails with an
//! internal "unreachable" error at 6e-9 (measured with argmin's L-BFGS, 10 pairs, on that
//! fixture). Near such an optimum the objective changes by less than its rounding while the
//! weights still move, so a search that judges steps by the value alone stalls; the
//! approximate condition judges them by the slope, which stays exact.

use ndarray::Array1;

/// Why [`minimise`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The gradient reached the tolerance.
    Converged,
    /// The iteration cap was reached first.
    MaxIterations,
    /// No step along −gradient lowers the objective any more (rounding).
    Stalled,
}

/// The result of [`minimise`].
pub struct Minimum {
    pub x: Array1<f64>,
    pub value: f64,
    /// Largest absolute entry of the gradient at `x`.
    pub gradient_max: f64,
    pub iterations: u64,
    pub stop: Stop,
}

/// Pairs of steps and gradient changes kept.
const MEMORY: usize = 10;

/// Minimises `f` (value and gradient at a point) from `x` until the gradient's largest
/// entry is at most `tolerance` or `max_iterations` steps were taken.
pub fn minimise(
    mut f: impl FnMut(&Array1<f64>) -> (f64, Array1<f64>),
    mut x: Array1<f64>,
    tolerance: f64,
    max_iterations: u64,
) -> Minimum {
    let (mut value, mut gradient) = f(&x);
    let mut pairs: Vec<(Array1<f64>, Array1<f64>)> = Vec::new();
    let mut iterations = 0;
    let stop = loop {
        if max_abs(&gradient) <= tolerance {
            break Stop::Converged;
        }
        if iterations >= max_iterations {
            break Stop::MaxIterations;
        }
        let mut direction = two_loop(&pairs, &gradient);
        let mut slope = gradient.dot(&direction);
        if slope >= 0.0 || !slope.is_finite() {
            pairs.clear();
            direction = -&gradient / norm(&gradient);
            slope = gradient.dot(&direction);
        }
        let mut phi = |a: f64| {
            let (v, g) = f(&(&x + &(&direction * a)));
            let d = g.dot(&direction);
            (v, d, g)
        };
        match line_search(&mut phi, value, slope) {
            Some((a, v, g)) => {
                let step = &direction * a;
                let change = &g - &gradient;
                // Keep only pairs of positive curvature: others would break the update.
                if step.dot(&change) > f64::EPSILON * change.dot(&change) {
                    pairs.push((step.clone(), change));
                    if pairs.len() > MEMORY {
                        pairs.remove(0);
                    }
                }
                x += &step;
                value = v;
                gradient = g;
                iterations += 1;
            }
            // Drop the memory and try once more along −gradient.
            None if !pairs.is_empty() => pairs.clear(),
            None => break Stop::Stalled,
        }
    };
    Minimum {
        gradient_max: max_abs(&gradient),
        x,
        value,
        iterations,
        stop,
    }
}

/// −H·g with L-BFGS's two-loop recursion (H from `pairs`; without pairs a step of length 1
/// along −g).
fn two_loop(pairs: &[(Array1<f64>, Array1<f64>)], gradient: &Array1<f64>) -> Array1<f64> {
    let mut q = gradient.clone();
    let mut alphas = Vec::with_capacity(pairs.len());
    for (s, y) in pairs.iter().rev() {
        let alpha = s.dot(&q) / y.dot(s);
        q.scaled_add(-alpha, y);
        alphas.push(alpha);
    }
    let gamma = match pairs.last() {
        Some((s, y)) => s.dot(y) / y.dot(y),
        None => 1.0 / norm(gradient),
    };
    let mut r = q * gamma;
    for ((s, y), alpha) in pairs.iter().zip(alphas.iter().rev()) {
        let beta = y.dot(&r) / y.dot(s);
        r.scaled_add(alpha - beta, s);
    }
    -r
}

/// A step length along the direction, trying 1 first: `phi(a)` gives the value, the slope
/// and the gradient at `a`; `f0`, `d0` are the value and slope at 0. Brackets by ×4, then
/// zooms by safeguarded cubic interpolation (Nocedal & Wright, algorithms 3.5 and 3.6), at
/// most 50 evaluations.
fn line_search(
    phi: &mut impl FnMut(f64) -> (f64, f64, Array1<f64>),
    f0: f64,
    d0: f64,
) -> Option<(f64, f64, Array1<f64>)> {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    const EVALUATIONS: usize = 50;
    // Value changes below this are rounding (Hager and Zhang's ε·|f|).
    let noise = 1e-10 * f0.abs();
    let accept = |a: f64, f: f64, d: f64| {
        let armijo = f <= f0 + C1 * a * d0;
        let approximate = f <= f0 + noise && d <= (2.0 * C1 - 1.0) * d0;
        (armijo || approximate) && d.abs() <= C2 * d0.abs()
    };
    let too_high = |a: f64, f: f64| f > f0 + C1 * a * d0 && f > f0 + noise;

    let (mut lo, mut f_lo, mut d_lo, mut g_lo) = (0.0, f0, d0, None);
    let mut a = 1.0;
    let mut evaluations = 0;
    let (mut hi, mut f_hi, mut d_hi);
    loop {
        if evaluations == EVALUATIONS {
            return None;
        }
        let (f, d, g) = phi(a);
        evaluations += 1;
        if f.is_finite() && accept(a, f, d) {
            return Some((a, f, g));
        }
        if !f.is_finite() || too_high(a, f) || (evaluations > 1 && f >= f_lo) {
            (hi, f_hi, d_hi) = (a, f, d);
            break;
        }
        if d >= 0.0 {
            (hi, f_hi, d_hi) = (lo, f_lo, d_lo);
            (lo, f_lo, d_lo, g_lo) = (a, f, d, Some(g));
            break;
        }
        (lo, f_lo, d_lo, g_lo) = (a, f, d, Some(g));
        a *= 4.0;
    }
    while evaluations < EVALUATIONS {
        let (left, right) = (lo.min(hi), lo.max(hi));
        let width = right - left;
        if width <= 1e-16 * right.max(1.0) {
            break;
        }
        let t = f_hi
            .is_finite()
            .then(|| cubic_minimum(lo, f_lo, d_lo, hi, f_hi, d_hi))
            .flatten()
            .filter(|t| (left + 0.1 * width..=right - 0.1 * width).contains(t))
            .unwrap_or(0.5 * (lo + hi));
        let (f, d, g) = phi(t);
        evaluations += 1;
        if f.is_finite() && accept(t, f, d) {
            return Some((t, f, g));
        }
        if !f.is_finite() || too_high(t, f) || f >= f_lo {
            (hi, f_hi, d_hi) = (t, f, d);
        } else {
            if d * (hi - lo) >= 0.0 {
                (hi, f_hi, d_hi) = (lo, f_lo, d_lo);
            }
            (lo, f_lo, d_lo, g_lo) = (t, f, d, Some(g));
        }
    }
    // No step met the conditions; the best one found still lowers the value: take it.
    match g_lo {
        Some(g) if lo > 0.0 && f_lo < f0 => Some((lo, f_lo, g)),
        _ => None,
    }
}

/// The minimiser of the cubic through `(a, fa)` with slope `da` and `(b, fb)` with slope
/// `db`, if it has one.
fn cubic_minimum(a: f64, fa: f64, da: f64, b: f64, fb: f64, db: f64) -> Option<f64> {
    let d1 = da + db - 3.0 * (fa - fb) / (a - b);
    let s = d1 * d1 - da * db;
    if s < 0.0 {
        return None;
    }
    let d2 = s.sqrt().copysign(b - a);
    let denominator = db - da + 2.0 * d2;
    (denominator != 0.0).then(|| b - (b - a) * (db + d2 - d1) / denominator)
}

fn norm(v: &Array1<f64>) -> f64 {
    v.dot(v).sqrt()
}

fn max_abs(v: &Array1<f64>) -> f64 {
    v.fold(0.0, |m, x| m.max(x.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ill-conditioned quadratic (condition 1e8): the minimum is at the origin.
    #[test]
    fn reaches_the_minimum_of_a_stretched_bowl() {
        let scales = Array1::from(vec![1.0, 1e2, 1e4, 1e6, 1e8]);
        let f = |x: &Array1<f64>| {
            let g = &scales * x;
            (0.5 * x.dot(&g), g)
        };
        let start = Array1::from_elem(5, 1.0);
        let found = minimise(f, start, 1e-9, 10_000);
        assert_eq!(found.stop, Stop::Converged);
        assert!(found.gradient_max <= 1e-9);
        assert!(found.x.iter().all(|v| v.abs() < 1e-8), "{:?}", found.x);
    }

    #[test]
    fn stops_at_the_cap_and_says_so() {
        let f = |x: &Array1<f64>| {
            // Rosenbrock's valley.
            let (a, b) = (x[0], x[1]);
            let value = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
            let g = Array1::from(vec![
                -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
                200.0 * (b - a * a),
            ]);
            (value, g)
        };
        let start = Array1::from(vec![-1.2, 1.0]);
        let capped = minimise(f, start.clone(), 1e-10, 3);
        assert_eq!((capped.stop, capped.iterations), (Stop::MaxIterations, 3));
        let found = minimise(f, start, 1e-10, 1000);
        assert_eq!(found.stop, Stop::Converged);
        assert!((found.x[0] - 1.0).abs() < 1e-9 && (found.x[1] - 1.0).abs() < 1e-9);
    }
}
