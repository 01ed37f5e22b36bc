//! Output files: the summary as JSON, and an SVG with throughput over time and the latency distribution.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use crate::stats::{Stats, Summary};

pub fn write_json(path: &Path, summary: &Summary) -> Result<()> {
    let text = serde_json::to_string_pretty(summary)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Two panels: operations per second over the run, and latency by percentile (log scale in the tail).
pub fn write_plot(path: &Path, summary: &Summary, stats: &Stats) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()) != Some("svg") {
        anyhow::bail!("--plot {}: only .svg is supported", path.display());
    }
    let root = SVGBackend::new(path, (1000, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(400);

    let tl = &summary.timeline;
    let ymax = tl.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let mut c = ChartBuilder::on(&top)
        .caption(
            format!("{}: operations per second", summary.scenario),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..(tl.len().max(1) as f64), 0f64..ymax)?;
    c.configure_mesh()
        .x_desc("seconds")
        .y_desc("ops/s")
        .draw()?;
    c.draw_series(LineSeries::new(
        tl.iter()
            .enumerate()
            .map(|(i, &v)| (i as f64 + 0.5, v as f64)),
        &BLUE,
    ))?;

    // Percentiles 0..99.99 on a "nines" axis: x = -log10(1 - p).
    let points: Vec<(f64, f64)> = (0..=40)
        .map(|i| {
            let nines = i as f64 * 0.1;
            let p = 1.0 - 10f64.powf(-nines);
            let ms = if stats.ops == 0 {
                0.0
            } else {
                stats.latency.value_at_quantile(p) as f64 / 1000.0
            };
            (nines, ms)
        })
        .collect();
    let lmax = points.iter().map(|p| p.1).fold(0.0, f64::max).max(0.001) * 1.1;
    let mut c = ChartBuilder::on(&bottom)
        .caption("latency by percentile (ms)", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..4f64, 0f64..lmax)?;
    c.configure_mesh()
        .x_desc("percentile")
        .x_label_formatter(&|x| format!("{:.2}%", 100.0 * (1.0 - 10f64.powf(-x))))
        .y_desc("ms")
        .draw()?;
    c.draw_series(LineSeries::new(points, &RED))?;
    root.present()?;
    Ok(())
}
