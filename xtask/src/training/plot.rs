//! The loss curve as a PNG (plotters' bitmap backend; no text, so no font dependency):
//! per-step loss in light blue, its running mean over 20 steps in dark blue.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use clip_model::train::History;

pub fn loss_curve(history: &History, out: &Path) -> Result<()> {
    if history.steps.is_empty() {
        return Ok(());
    }
    let losses: Vec<(f64, f64)> = history.steps.iter().map(|s| (s.0 as f64, s.2)).collect();
    let smooth: Vec<(f64, f64)> = losses
        .iter()
        .enumerate()
        .map(|(i, &(x, _))| {
            let from = i.saturating_sub(19);
            let window = &losses[from..=i];
            (
                x,
                window.iter().map(|p| p.1).sum::<f64>() / window.len() as f64,
            )
        })
        .collect();
    let x_max = losses.last().map_or(1.0, |p| p.0).max(1.0);
    let y_max = losses.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-3) * 1.05;
    crate::io::write_atomic(out, |tmp| {
        let root = BitMapBackend::new(tmp, (800, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let area = root.margin(20, 20, 20, 20);
        let mut chart = ChartBuilder::on(&area)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .draw_series(LineSeries::new(losses, RGBColor(160, 190, 230)))
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .draw_series(LineSeries::new(
                smooth,
                RGBColor(20, 60, 160).stroke_width(2),
            ))
            .map_err(|e| anyhow!("{e}"))?;
        // Axes.
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (x_max, 0.0)], BLACK))
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (0.0, y_max)], BLACK))
            .map_err(|e| anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow!("{e}"))
    })
}
