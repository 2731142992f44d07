//! Training curves as a PNG: loss (left axis) and test accuracy (right axis) per epoch.
//!
//! Why a rasterizer of our own instead of a plotting crate: two polylines, a grid and some digits are all a
//! training curve needs, and the plotting crates bring font stacks and dozens of dependencies into every
//! build of the examples. This is Bresenham lines, a 3×5 digit font and the small `png` encoder.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::train::EpochStats;
use crate::BoxResult;

const W: usize = 720;
const H: usize = 420;
/// Left, right, top, bottom margins around the plot area.
const MARGIN: (usize, usize, usize, usize) = (64, 64, 20, 36);
const LOSS: [u8; 3] = [31, 119, 180];
const ACC: [u8; 3] = [255, 127, 14];
const GRID: [u8; 3] = [225, 225, 225];
const INK: [u8; 3] = [60, 60, 60];

/// An RGB image being drawn.
struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Canvas {
            pixels: vec![255; W * H * 3],
        }
    }

    fn dot(&mut self, x: i64, y: i64, size: i64, color: [u8; 3]) {
        for py in y - size / 2..=y + (size - 1) / 2 {
            for px in x - size / 2..=x + (size - 1) / 2 {
                if (0..W as i64).contains(&px) && (0..H as i64).contains(&py) {
                    let i = (py as usize * W + px as usize) * 3;
                    self.pixels[i..i + 3].copy_from_slice(&color);
                }
            }
        }
    }

    /// Bresenham's line, each step stamped with a `width`-pixel square.
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), width: i64, color: [u8; 3]) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = ((x1 - x0).signum(), (y1 - y0).signum());
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.dot(x, y, width, color);
            if x == x1 && y == y1 {
                return;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Text in a 3×5 pixel font scaled 2×; `anchor_right` aligns the text's right edge to `x`.
    fn text(&mut self, s: &str, x: i64, y: i64, anchor_right: bool, color: [u8; 3]) {
        let x0 = if anchor_right {
            x - 8 * s.len() as i64
        } else {
            x
        };
        for (k, ch) in s.chars().enumerate() {
            for (r, bits) in glyph(ch).iter().enumerate() {
                for c in 0..3 {
                    if bits >> (2 - c) & 1 == 1 {
                        self.dot(
                            x0 + 8 * k as i64 + 2 * c + 1,
                            y + 2 * r as i64 + 1,
                            2,
                            color,
                        );
                    }
                }
            }
        }
    }
}

/// Rows of a 3-pixel-wide glyph, most significant bit leftmost; unknown characters are blank.
fn glyph(ch: char) -> [u8; 5] {
    match ch {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '%' => [5, 1, 2, 4, 5],
        _ => [0; 5],
    }
}

/// Draws the curves of `history` and writes them to `path` as an 8-bit RGB PNG.
pub fn write(path: &Path, history: &[EpochStats]) -> BoxResult<()> {
    let mut canvas = Canvas::new();
    let (left, right, top, bottom) = MARGIN;
    let (x_lo, x_hi) = (left as i64, (W - right) as i64);
    let (y_top, y_bottom) = (top as i64, (H - bottom) as i64);
    let n = history.len();
    let loss_max = history
        .iter()
        .map(|e| e.train_loss)
        .fold(0.0, f64::max)
        .max(1e-3);
    let acc_min = history.iter().map(|e| e.test_accuracy).fold(1.0, f64::min);
    let acc_lo = ((acc_min * 10.0).floor() / 10.0).min(0.9);
    let x_of = |i: usize| match n {
        0 | 1 => (x_lo + x_hi) / 2,
        _ => x_lo + (x_hi - x_lo) * i as i64 / (n as i64 - 1),
    };
    let y_of =
        |frac: f64| y_bottom - ((y_bottom - y_top) as f64 * frac.clamp(0.0, 1.0)).round() as i64;
    for k in 0..=5 {
        let y = y_of(k as f64 / 5.0);
        canvas.line((x_lo, y), (x_hi, y), 1, GRID);
        let loss = loss_max * k as f64 / 5.0;
        canvas.text(&format!("{loss:.2}"), x_lo - 6, y - 5, true, LOSS);
        let acc = 100.0 * (acc_lo + (1.0 - acc_lo) * k as f64 / 5.0);
        canvas.text(&format!("{acc:.0}%"), x_hi + 6, y - 5, false, ACC);
    }
    let label_every = n.div_ceil(20).max(1);
    for (i, e) in history.iter().enumerate() {
        if i % label_every == 0 || i + 1 == n {
            let s = e.epoch.to_string();
            canvas.text(&s, x_of(i) + 4 * s.len() as i64, y_bottom + 8, true, INK);
        }
    }
    canvas.line((x_lo, y_bottom), (x_hi, y_bottom), 1, INK);
    canvas.line((x_lo, y_top), (x_lo, y_bottom), 1, INK);
    canvas.line((x_hi, y_top), (x_hi, y_bottom), 1, INK);
    let loss_pts: Vec<(i64, i64)> = (0..n)
        .map(|i| (x_of(i), y_of(history[i].train_loss / loss_max)))
        .collect();
    let acc_pts: Vec<(i64, i64)> = (0..n)
        .map(|i| {
            (
                x_of(i),
                y_of((history[i].test_accuracy - acc_lo) / (1.0 - acc_lo)),
            )
        })
        .collect();
    for (pts, color) in [(loss_pts, LOSS), (acc_pts, ACC)] {
        for w in pts.windows(2) {
            canvas.line(w[0], w[1], 2, color);
        }
        for &(x, y) in &pts {
            canvas.dot(x, y, 6, color);
        }
    }
    let file = BufWriter::new(File::create(path)?);
    let mut encoder = png::Encoder::new(file, W as u32, H as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&canvas.pixels)?;
    writer.finish()?;
    Ok(())
}
