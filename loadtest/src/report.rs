//! Output files: the summary as JSON, and a plot (SVG or PNG) with throughput over time and the latency
//! distribution.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use crate::stats::{Stats, Summary};

pub fn write_json(path: &Path, summary: &Summary) -> Result<()> {
    let text = serde_json::to_string_pretty(summary)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Two panels: operations per second over the run, and latency by percentile; the file's extension
/// (.svg or .png) picks the format.
pub fn write_plot(path: &Path, summary: &Summary, stats: &Stats) -> Result<()> {
    const SIZE: (u32, u32) = (1000, 800);
    load_font()?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => draw(
            SVGBackend::new(path, SIZE).into_drawing_area(),
            summary,
            stats,
        ),
        Some("png") => draw(
            BitMapBackend::new(path, SIZE).into_drawing_area(),
            summary,
            stats,
        ),
        _ => anyhow::bail!(
            "--plot {}: the name must end in .svg or .png",
            path.display()
        ),
    }
    .with_context(|| format!("drawing {}", path.display()))
}

/// Checks a plot's name before a run, so a bad one fails at once.
pub fn check_plot(path: &Path) -> Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") | Some("png") => Ok(()),
        _ => anyhow::bail!(
            "--plot {}: the name must end in .svg or .png",
            path.display()
        ),
    }
}

/// Registers the plots' font (SVG text is measured with it too), once.
fn load_font() -> Result<()> {
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *LOADED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_ok()
    });
    anyhow::ensure!(ok, "the built-in font did not load");
    Ok(())
}

fn draw<DB>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    summary: &Summary,
    stats: &Stats,
) -> Result<()>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(400);

    // Operations per second in each whole second; the last, partial second holds only what was in
    // flight when the run ended and would read as a collapse, so it is left out.
    let whole = (summary.seconds.floor() as usize).max(1);
    let tl: Vec<f64> = summary
        .timeline
        .iter()
        .take(whole)
        .map(|&n| n as f64)
        .collect();
    let ymax = tl.iter().copied().fold(1.0, f64::max) * 1.1;
    let mut c = ChartBuilder::on(&top)
        .caption(
            format!("{}: operations per second", summary.scenario),
            ("sans-serif", 20),
        )
        .margin(10)
        .margin_right(40)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..(tl.len().max(1) as f64), 0f64..ymax)?;
    c.configure_mesh()
        .x_desc("seconds")
        .y_desc("ops/s")
        .draw()?;
    c.draw_series(LineSeries::new(
        tl.iter().enumerate().map(|(i, &v)| (i as f64 + 0.5, v)),
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
        .margin_right(40)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run() -> (Summary, Stats) {
        let mut st = Stats::default();
        for i in 0..3000u64 {
            st.record(
                Duration::from_millis(i),
                Duration::from_micros(100 + i % 977),
                1000,
            );
        }
        (st.summary("test run", Duration::from_millis(3010)), st)
    }

    #[test]
    fn plots_as_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        let (summary, st) = run();
        let svg = dir.path().join("p.svg");
        write_plot(&svg, &summary, &st).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("test run: operations per second"), "{text}");
        assert!(text.contains("<polyline"), "{text}");
        let png = dir.path().join("p.png");
        write_plot(&png, &summary, &st).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(bytes.len() > 10_000, "{}", bytes.len());
        assert!(check_plot(&dir.path().join("p.gif")).is_err());
        assert!(write_plot(&dir.path().join("p.gif"), &summary, &st).is_err());
    }
}
