//! Pictures of a run and of an experiment, drawn with plotters as PNG and SVG.
//!
//! - the sparsity mask as a heatmap, sensors on the x axis, steps (elementwise) or units
//!   (feedforward) on the y axis, with a colour bar of the weight magnitude;
//! - the weight mass `Σ|w|` per sensor as a bar chart, kept sensors in a darker colour;
//! - the ROC and precision-recall curves of a run's test scores, and at the experiment level the
//!   curves of every variant of a dataset on one figure;
//! - a run's test score over time, with the threshold and the labelled anomalies shaded;
//! - at the experiment level, sensors kept against the L1 strength for each dataset.
//!
//! Every picture is written twice, `<stem>.png` and `<stem>.svg`. Text uses the system's
//! sans-serif font through fontconfig.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use crate::error::{Error, Result};
use crate::metrics::{PrCurve, RocCurve};
use crate::model::Mask;

const FONT: &str = "sans-serif";
/// Pixels per sensor column, so that sensor labels stay readable on wide masks.
const PIXELS_PER_SENSOR: u32 = 22;

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Draws the same picture into `<stem>.png` and `<stem>.svg`.
fn draw_both(
    stem: &Path,
    size: (u32, u32),
    draw_png: impl Fn(DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult<BitMapBackend<'_>>,
    draw_svg: impl Fn(DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult<SVGBackend<'_>>,
) -> Result<()> {
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let plot_error = |path: &Path, message: String| Error::Table {
        path: path.to_owned(),
        message: format!("cannot draw the picture: {message}"),
    };
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw_png(root.clone()).map_err(|e| plot_error(&png, e.to_string()))?;
        root.present()
            .map_err(|e| plot_error(&png, e.to_string()))?;
    }
    let root = SVGBackend::new(&svg, size).into_drawing_area();
    draw_svg(root.clone()).map_err(|e| plot_error(&svg, e.to_string()))?;
    root.present().map_err(|e| plot_error(&svg, e.to_string()))
}

/// Writes sensor names below the x axis, turned a quarter so that long names do not overlap.
///
/// plotters centres a rotated axis label on its unrotated size, which pushes long names into the
/// plot, so the names are drawn here instead. `column_x(j)` is the pixel centre of column `j`.
fn label_sensors<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    names: &[String],
    column_x: impl Fn(usize) -> i32,
    axis_y: i32,
) -> DrawResult<DB> {
    let style = TextStyle::from((FONT, 12).into_font()).transform(FontTransform::Rotate90);
    for (j, name) in names.iter().enumerate() {
        // After a quarter turn the glyphs extend to the left of the anchor, so shift right by
        // half the font size to centre the name on its column.
        area.draw(&Text::new(
            name.clone(),
            (column_x(j) + 6, axis_y + 8),
            style.clone(),
        ))?;
    }
    Ok(())
}

/// Draws the sparsity mask heatmap into `<stem>.png` and `<stem>.svg`.
pub fn mask_heatmap(stem: &Path, mask: &Mask, names: &[String], row_label: &str) -> Result<()> {
    let width = (mask.cols as u32 * PIXELS_PER_SENSOR + 260).max(700);
    let height = (mask.rows as u32 * 6).clamp(420, 900);
    draw_both(
        stem,
        (width, height),
        |root| heatmap(root, mask, names, row_label),
        |root| heatmap(root, mask, names, row_label),
    )
}

fn heatmap<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    mask: &Mask,
    names: &[String],
    row_label: &str,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let max = mask
        .values
        .iter()
        .copied()
        .fold(0f32, f32::max)
        .max(f32::MIN_POSITIVE);
    let (width, _) = root.dim_in_pixel();
    let (main, bar) = root.split_horizontally(width - 110);

    let mut chart = ChartBuilder::on(&main)
        .caption("Sparsity mask |w|", (FONT, 22))
        .margin(10)
        .x_label_area_size(110)
        .y_label_area_size(60)
        .build_cartesian_2d(0..mask.cols, 0..mask.rows)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .label_style((FONT, 13))
        .x_labels(mask.cols)
        .x_label_formatter(&|_| String::new())
        .y_desc(row_label)
        .draw()?;
    chart.draw_series((0..mask.rows).flat_map(|i| {
        (0..mask.cols).map(move |j| {
            let value = mask.values[i * mask.cols + j] / max;
            let colour = ViridisRGB.get_color(value);
            Rectangle::new([(j, i), (j + 1, i + 1)], colour.filled())
        })
    }))?;
    let centre =
        |j: usize| (chart.backend_coord(&(j, 0)).0 + chart.backend_coord(&(j + 1, 0)).0) / 2;
    label_sensors(&main, names, centre, chart.backend_coord(&(0, 0)).1)?;

    // Colour bar from 0 to the largest magnitude.
    let mut legend = ChartBuilder::on(&bar)
        .margin_top(40)
        .margin_bottom(120)
        .margin_right(10)
        .y_label_area_size(55)
        .build_cartesian_2d(0f32..1f32, 0f32..max)?;
    legend
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v:.2}"))
        .y_desc("|w|")
        .label_style((FONT, 12))
        .draw()?;
    let steps = 100;
    legend.draw_series((0..steps).map(|s| {
        let low = max * s as f32 / steps as f32;
        let high = max * (s + 1) as f32 / steps as f32;
        let colour = ViridisRGB.get_color(s as f32 / steps as f32);
        Rectangle::new([(0.0, low), (1.0, high)], colour.filled())
    }))?;
    Ok(())
}

/// Draws `Σ|w|` per sensor into `<stem>.png` and `<stem>.svg`.
pub fn sensor_mass_bars(stem: &Path, mass: &[f64], names: &[String], kept: &[usize]) -> Result<()> {
    let width = (mass.len() as u32 * PIXELS_PER_SENSOR + 160).max(600);
    draw_both(
        stem,
        (width, 480),
        |root| mass_bars(root, mass, names, kept),
        |root| mass_bars(root, mass, names, kept),
    )
}

fn mass_bars<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    mass: &[f64],
    names: &[String],
    kept: &[usize],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let max = mass
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption("Input weight mass per sensor (dark: kept)", (FONT, 20))
        .margin(10)
        .x_label_area_size(110)
        .y_label_area_size(70)
        .build_cartesian_2d(0..mass.len(), 0.0..max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .label_style((FONT, 13))
        .x_labels(mass.len())
        .x_label_formatter(&|_| String::new())
        .y_desc("Σ|w|")
        .draw()?;
    chart.draw_series(mass.iter().enumerate().map(|(j, &m)| {
        let colour = if kept.contains(&j) {
            BLUE.mix(0.9)
        } else {
            BLUE.mix(0.3)
        };
        Rectangle::new([(j, 0.0), (j + 1, m)], colour.filled())
    }))?;
    let centre =
        |j: usize| (chart.backend_coord(&(j, 0.0)).0 + chart.backend_coord(&(j + 1, 0.0)).0) / 2;
    label_sensors(&root, names, centre, chart.backend_coord(&(0, 0.0)).1)?;
    Ok(())
}

/// One line of the sensors-kept plot: a variant's mean sensors kept at each L1 strength.
#[derive(Debug, Clone)]
pub struct KeptCurve {
    pub label: String,
    /// `(l1, mean sensors kept)`, sorted by `l1`.
    pub points: Vec<(f64, f64)>,
}

/// Draws sensors kept against L1 strength into `<stem>.png` and `<stem>.svg`. The x axis lists
/// the swept strengths at equal spacing, because the sweep may hold zero next to powers of ten.
pub fn sensors_kept_vs_l1(
    stem: &Path,
    title: &str,
    sensors: usize,
    curves: &[KeptCurve],
) -> Result<()> {
    draw_both(
        stem,
        (720, 480),
        |root| kept_lines(root, title, sensors, curves),
        |root| kept_lines(root, title, sensors, curves),
    )
}

fn kept_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    sensors: usize,
    curves: &[KeptCurve],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let mut strengths: Vec<f64> = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .collect();
    strengths.sort_by(f64::total_cmp);
    strengths.dedup();
    let position = |l1: f64| strengths.iter().position(|&s| s == l1).unwrap_or(0);
    let last = strengths.len().saturating_sub(1).max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Sensors kept, {title}"), (FONT, 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(-0.3f64..last as f64 + 0.3, 0f64..sensors as f64 * 1.05)?;
    chart
        .configure_mesh()
        .x_labels(strengths.len().max(2))
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                strengths
                    .get(i as usize)
                    .map(|s| format!("{s}"))
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("l1")
        .y_desc("sensors kept")
        .label_style((FONT, 13))
        .draw()?;
    for (index, curve) in curves.iter().enumerate() {
        let colour = Palette99::pick(index).to_rgba();
        let points: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|&(l1, kept)| (position(l1) as f64, kept))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(curve.label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 4, colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .draw()?;
    Ok(())
}

/// The ROC and precision-recall curves of one variant.
#[derive(Debug, Clone)]
pub struct CurvePair {
    pub label: String,
    pub roc: RocCurve,
    pub pr: PrCurve,
}

/// Draws ROC (left) and precision-recall (right) curves, one line per entry, into
/// `<stem>.png` and `<stem>.svg`.
pub fn curves(stem: &Path, title: &str, pairs: &[CurvePair]) -> Result<()> {
    draw_both(
        stem,
        (1000, 480),
        |root| curve_panels(root, title, pairs),
        |root| curve_panels(root, title, pairs),
    )
}

fn curve_panels<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    pairs: &[CurvePair],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 20))?;
    let (left, right) = root.split_horizontally(500);
    let panels = [
        (left, "ROC", "false positive rate", "true positive rate"),
        (right, "precision-recall", "recall", "precision"),
    ];
    for (index, (area, name, x_desc, y_desc)) in panels.into_iter().enumerate() {
        let mut chart = ChartBuilder::on(&area)
            .caption(name, (FONT, 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style((FONT, 12))
            .draw()?;
        if index == 0 {
            chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))?;
        }
        for (p, pair) in pairs.iter().enumerate() {
            let colour = Palette99::pick(p).to_rgba();
            let points: Vec<(f64, f64)> = if index == 0 {
                pair.roc
                    .fpr
                    .iter()
                    .copied()
                    .zip(pair.roc.tpr.iter().copied())
                    .collect()
            } else {
                pair.pr
                    .recall
                    .iter()
                    .copied()
                    .zip(pair.pr.precision.iter().copied())
                    .collect()
            };
            let points = points
                .into_iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite());
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
                .label(pair.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(if index == 0 {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::UpperRight
            })
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font((FONT, 12))
            .draw()?;
    }
    Ok(())
}

/// At most this many points are drawn on a timeline; longer series are reduced to the maximum
/// of each bucket, so that no spike disappears.
const TIMELINE_POINTS: usize = 4000;

/// Draws the test score over time, the threshold and the labelled anomalies into `<stem>.png`
/// and `<stem>.svg`.
pub fn score_timeline(
    stem: &Path,
    scores: &[f64],
    labels: &[bool],
    threshold: Option<f64>,
) -> Result<()> {
    draw_both(
        stem,
        (1200, 420),
        |root| timeline(root, scores, labels, threshold),
        |root| timeline(root, scores, labels, threshold),
    )
}

fn timeline<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    scores: &[f64],
    labels: &[bool],
    threshold: Option<f64>,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let n = scores.len().max(1);
    // Anomaly scores span orders of magnitude (a Mahalanobis distance can reach 1e6 where a
    // sensor that was constant in training moves), so the axis is logarithmic.
    let finite = scores.iter().copied().filter(|s| s.is_finite());
    let top = finite
        .clone()
        .fold(f64::MIN_POSITIVE, f64::max)
        .max(threshold.unwrap_or(0.0))
        * 2.0;
    let smallest = finite.filter(|&s| s > 0.0).fold(top, f64::min);
    let bottom = smallest.max(top * 1e-9) / 2.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Test anomaly score (red: threshold, shaded: labelled anomalies)",
            (FONT, 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, (bottom..top).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("test step")
        .y_desc("score (log scale)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.1e}"))
        .label_style((FONT, 12))
        .draw()?;

    let mut start = None;
    let mut segments = Vec::new();
    for (t, &label) in labels.iter().chain(std::iter::once(&false)).enumerate() {
        match (label, start) {
            (true, None) => start = Some(t),
            (false, Some(s)) => {
                segments.push((s, t));
                start = None;
            }
            _ => {}
        }
    }
    chart.draw_series(segments.into_iter().map(|(s, e)| {
        Rectangle::new(
            [(s as f64, bottom), (e as f64, top)],
            RGBColor(255, 140, 0).mix(0.45).filled(),
        )
    }))?;

    let bucket = n.div_ceil(TIMELINE_POINTS);
    let points = scores.chunks(bucket).enumerate().map(|(i, chunk)| {
        let peak = chunk.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        ((i * bucket) as f64, peak.clamp(bottom, top))
    });
    chart.draw_series(LineSeries::new(points, BLUE.stroke_width(1)))?;
    if let Some(threshold) = threshold {
        chart.draw_series(LineSeries::new(
            [(0.0, threshold), (n as f64, threshold)],
            RED.stroke_width(2),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_write_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let mask = Mask {
            values: (0..12).map(|v| v as f32 / 11.0).collect(),
            rows: 3,
            cols: 4,
        };
        let names: Vec<String> = (0..4).map(|j| format!("sensor-{j}")).collect();
        mask_heatmap(&dir.path().join("mask"), &mask, &names, "step").unwrap();
        sensor_mass_bars(
            &dir.path().join("mass"),
            &mask.sensor_mass(),
            &names,
            &[1, 2],
        )
        .unwrap();
        let kept = [KeptCurve {
            label: "sparse-elementwise".into(),
            points: vec![(0.0, 4.0), (0.01, 2.0)],
        }];
        sensors_kept_vs_l1(&dir.path().join("kept"), "synthetic", 4, &kept).unwrap();
        let labels = [false, true, true, false, false, true];
        let scores = [0.1, 0.9, 0.8, 0.3, 0.2, 0.7];
        let pair = CurvePair {
            label: "standard".into(),
            roc: crate::metrics::roc_curve(&labels, &scores).unwrap(),
            pr: crate::metrics::precision_recall_curve(&labels, &scores).unwrap(),
        };
        curves(&dir.path().join("curves"), "synthetic", &[pair]).unwrap();
        score_timeline(&dir.path().join("timeline"), &scores, &labels, Some(0.5)).unwrap();
        for stem in ["mask", "mass", "kept", "curves", "timeline"] {
            for extension in ["png", "svg"] {
                let path = dir.path().join(format!("{stem}.{extension}"));
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                assert!(size > 1000, "{} has {size} bytes", path.display());
            }
        }
        let svg = std::fs::read_to_string(dir.path().join("mask.svg")).unwrap();
        assert!(svg.contains("sensor-3"), "sensor labels are drawn");
    }
}
