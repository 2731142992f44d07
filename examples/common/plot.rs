//! PNG plots with `plotters`: line charts (title, axis labels, legend, an optional second y axis) and grids
//! of grey images (reconstructions, samples, filters, adversarial examples).
//!
//! The font is DejaVu Sans from the `dejavu` crate, registered once with plotters' `ab_glyph` backend, so
//! text renders on machines without system fonts (CI, containers).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::BoxResult;

const FONT: &str = "sans-serif";

fn register_font() -> BoxResult<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "the bundled DejaVu font did not load".to_string());
    });
    Ok(result?)
}

/// One curve: its legend entry and (x, y) points.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
        }
    }

    /// `values[i]` at x = i + 1 (epochs, steps).
    pub fn per_step(name: impl Into<String>, values: &[f64]) -> Self {
        let points = values
            .iter()
            .enumerate()
            .map(|(i, &v)| ((i + 1) as f64, v))
            .collect();
        Series::new(name, points)
    }
}

/// A line chart: curves on the left axis, optionally more on a right axis with its own label.
#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Right-axis label and curves.
    pub right: Option<(String, Vec<Series>)>,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The (min, max) of the y values, widened so a flat curve still has a range.
fn y_range(series: &[Series]) -> (f64, f64) {
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let finite: Vec<f64> = ys.filter(|y| y.is_finite()).collect();
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    (lo - pad, hi + pad)
}

fn x_range(series: &[Series]) -> (f64, f64) {
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || hi <= lo {
        return (0.0, lo.max(0.0) + 1.0);
    }
    (lo, hi)
}

/// Draws `chart` into a PNG of `size` pixels.
pub fn line_chart(path: &Path, chart: &Chart, size: (u32, u32)) -> BoxResult<()> {
    register_font()?;
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let all: Vec<Series> = chart
        .series
        .iter()
        .chain(chart.right.iter().flat_map(|(_, s)| s))
        .cloned()
        .collect();
    let (x0, x1) = x_range(&all);
    let (y0, y1) = y_range(&chart.series);
    let right_range = chart
        .right
        .as_ref()
        .map(|(_, s)| y_range(s))
        .unwrap_or((0.0, 1.0));
    let mut ctx = ChartBuilder::on(&root)
        .caption(&chart.title, (FONT, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .right_y_label_area_size(if chart.right.is_some() { 60 } else { 0 })
        .build_cartesian_2d(x0..x1, y0..y1)?
        .set_secondary_coord(x0..x1, right_range.0..right_range.1);
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style((FONT, 14))
        .draw()?;
    let mut color = PALETTE.iter().cycle();
    for s in &chart.series {
        let c = *color.next().expect("cycle");
        ctx.draw_series(LineSeries::new(s.points.clone(), c.stroke_width(2)))?
            .label(&s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    if let Some((label, series)) = &chart.right {
        ctx.configure_secondary_axes()
            .y_desc(label)
            .label_style((FONT, 14))
            .draw()?;
        for s in series {
            let c = *color.next().expect("cycle");
            ctx.draw_secondary_series(LineSeries::new(s.points.clone(), c.stroke_width(2)))?
                .label(&s.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// A grid of grey images, `cols` per row, each `shape` = (height, width) pixels scaled up `scale` times,
/// values clamped to [0, 1] (0 black, 1 white), under `title`; `row_labels` name the rows on the left.
pub fn image_grid(
    path: &Path,
    title: &str,
    images: &[Vec<f32>],
    (shape, cols, scale): ((usize, usize), usize, u32),
    row_labels: &[&str],
) -> BoxResult<()> {
    register_font()?;
    let (h, w) = shape;
    let rows = images.len().div_ceil(cols.max(1));
    let (cell_w, cell_h) = (w as u32 * scale + 4, h as u32 * scale + 4);
    let label_w = if row_labels.is_empty() { 8 } else { 110 };
    let size = (
        label_w + cols as u32 * cell_w + 8,
        40 + rows as u32 * cell_h + 8,
    );
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    root.draw(&Text::new(title, (8, 8), (FONT, 20).into_font()))?;
    for (r, label) in row_labels.iter().enumerate().take(rows) {
        let y = 40 + r as i32 * cell_h as i32 + cell_h as i32 / 2 - 8;
        root.draw(&Text::new(*label, (8, y), (FONT, 15).into_font()))?;
    }
    for (i, img) in images.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let (ox, oy) = (label_w + c as u32 * cell_w + 2, 40 + r as u32 * cell_h + 2);
        for y in 0..h {
            for x in 0..w {
                let v = (img.get(y * w + x).copied().unwrap_or(0.0).clamp(0.0, 1.0) * 255.0) as u8;
                let (px, py) = (ox + x as u32 * scale, oy + y as u32 * scale);
                let rect = [
                    (px as i32, py as i32),
                    ((px + scale) as i32, (py + scale) as i32),
                ];
                root.draw(&Rectangle::new(rect, RGBColor(v, v, v).filled()))?;
            }
        }
    }
    root.present()?;
    Ok(())
}

/// Where a chart's legend goes: the corner its data leaves free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corner {
    UpperLeft,
    UpperRight,
    LowerLeft,
    LowerRight,
}

impl Corner {
    fn position(self) -> SeriesLabelPosition {
        match self {
            Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
            Corner::UpperRight => SeriesLabelPosition::UpperRight,
            Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
            Corner::LowerRight => SeriesLabelPosition::LowerRight,
        }
    }
}

/// A chart of point sets (`points`, drawn as circles, one colour each) with `chart`'s curves over them (left
/// axis only; `chart.right` is ignored): data and a fitted line, two classes and a decision boundary,
/// coefficients of several models. Both kinds get legend entries, in the `legend` corner; the axes cover
/// points and curves.
pub fn scatter_chart(
    path: &Path,
    chart: &Chart,
    points: &[Series],
    size: (u32, u32),
    legend: Corner,
) -> BoxResult<()> {
    register_font()?;
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let all: Vec<Series> = points.iter().chain(&chart.series).cloned().collect();
    let (x0, x1) = x_range(&all);
    let pad = ((x1 - x0) * 0.03).max(1e-9);
    let (y0, y1) = y_range(&all);
    let mut ctx = ChartBuilder::on(&root)
        .caption(&chart.title, (FONT, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0 - pad..x1 + pad, y0..y1)?;
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style((FONT, 14))
        .draw()?;
    let mut color = PALETTE.iter().cycle();
    for s in points {
        let c = *color.next().expect("cycle");
        let marker = move |p: (f64, f64)| Circle::new(p, 3, c.mix(0.7).filled());
        ctx.draw_series(s.points.iter().map(|&p| marker(p)))?
            .label(&s.name)
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
    }
    for s in &chart.series {
        let c = *color.next().expect("cycle");
        ctx.draw_series(LineSeries::new(s.points.clone(), c.stroke_width(2)))?
            .label(&s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .position(legend.position())
        .draw()?;
    root.present()?;
    Ok(())
}

/// [`image_grid`] with a caption under every image (`captions[i]` under `images[i]`; missing ones are
/// blank): predicted classes under adversarial examples, labels under samples.
pub fn image_grid_captioned(
    path: &Path,
    title: &str,
    images: &[Vec<f32>],
    (shape, cols, scale): ((usize, usize), usize, u32),
    row_labels: &[&str],
    captions: &[String],
) -> BoxResult<()> {
    register_font()?;
    let (h, w) = shape;
    let rows = images.len().div_ceil(cols.max(1));
    let caption_h = 20;
    let (cell_w, cell_h) = (
        (w as u32 * scale + 8).max(64),
        h as u32 * scale + 4 + caption_h,
    );
    let label_w = if row_labels.is_empty() { 8 } else { 130 };
    let size = (
        label_w + cols as u32 * cell_w + 8,
        40 + rows as u32 * cell_h + 8,
    );
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    root.draw(&Text::new(title, (8, 8), (FONT, 20).into_font()))?;
    for (r, label) in row_labels.iter().enumerate().take(rows) {
        let y = 40 + r as i32 * cell_h as i32 + (cell_h - caption_h) as i32 / 2 - 8;
        root.draw(&Text::new(*label, (8, y), (FONT, 15).into_font()))?;
    }
    for (i, img) in images.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let ox = label_w + c as u32 * cell_w + (cell_w - w as u32 * scale) / 2;
        let oy = 40 + r as u32 * cell_h + 2;
        for y in 0..h {
            for x in 0..w {
                let v = (img.get(y * w + x).copied().unwrap_or(0.0).clamp(0.0, 1.0) * 255.0) as u8;
                let (px, py) = (ox + x as u32 * scale, oy + y as u32 * scale);
                let rect = [
                    (px as i32, py as i32),
                    ((px + scale) as i32, (py + scale) as i32),
                ];
                root.draw(&Rectangle::new(rect, RGBColor(v, v, v).filled()))?;
            }
        }
        if let Some(text) = captions.get(i) {
            let pos = (
                (label_w + c as u32 * cell_w + 2) as i32,
                (oy + h as u32 * scale + 3) as i32,
            );
            root.draw(&Text::new(text.as_str(), pos, (FONT, 13).into_font()))?;
        }
    }
    root.present()?;
    Ok(())
}
