//! Where the products of [`super`] read and write: the channels-last activation texture (its padding and
//! size) and, per product, the positions it sweeps, the taps it reads at each, the weight taps those
//! meet and where its results go.
//!
//! One sweep serves the forward pass, the weight gradient and the input gradient at stride 1. The input
//! gradient at stride s > 1 is a sum over taps whose output position must divide exactly by s, so it is
//! split by phase (Dumoulin & Visin, "A guide to convolution arithmetic", 2016, section 4.5): the rows y
//! with `(y + ph) mod sh = φ` only meet taps `i ≡ φ (mod sh)`, a stride-1 correlation of dy with that
//! sub-kernel; one sweep per phase (φy, φx) writes its rows and columns of dx.

use wgrad_graph::Conv2dParams;

use super::super::conv_geometry::{Dims, Pass};

/// The activation texture: channels, height and width of the activation, its top and left zero padding,
/// and the padded height and width the texture holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Canvas {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub pad: [usize; 2],
    pub hp: usize,
    pub wp: usize,
}

/// One product over the canvas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Sweep {
    /// The positions, a row-major grid.
    pub grid: [usize; 2],
    /// The taps read at each position (a kernel or a phase's sub-kernel).
    pub taps: [usize; 2],
    /// Canvas pixels between neighbouring positions and neighbouring taps, along y and x.
    pub pos_step: [usize; 2],
    pub tap_step: [usize; 2],
    /// Canvas pixel (y, x) of tap (0, 0) at position (0, 0).
    pub origin: [usize; 2],
    /// Output pixel of position (py, px): `(first + step·p)` along each axis, in an output plane of
    /// `out_size` (h, w).
    pub first: [usize; 2],
    pub step: [usize; 2],
    pub out_size: [usize; 2],
    /// Weight tap of sweep tap (ty, tx): `i = i0 + si·ty'` with `ty' = taps - 1 - ty` when flipped, and the
    /// weight's channel dims swapped (input gradient).
    pub w_first: [usize; 2],
    pub w_step: [usize; 2],
    pub flip: bool,
}

impl Sweep {
    /// A sweep whose positions map one to one onto the output plane (`grid`), over the whole kernel.
    fn dense(grid: [usize; 2], taps: [usize; 2], steps: [[usize; 2]; 2], flip: bool) -> Sweep {
        Sweep {
            grid,
            taps,
            pos_step: steps[0],
            tap_step: steps[1],
            origin: [0, 0],
            first: [0, 0],
            step: [1, 1],
            out_size: grid,
            w_first: [0, 0],
            w_step: [1, 1],
            flip,
        }
    }

    pub fn positions(&self) -> usize {
        self.grid[0] * self.grid[1]
    }
    pub fn tap_count(&self) -> usize {
        self.taps[0] * self.taps[1]
    }
}

/// The canvas and the sweeps of `pass`, or `None` where this path does not apply: an input gradient with
/// a padding past a tap's reach, or at a stride over 1 with a dilation over 1 or a kernel smaller than
/// the stride; a forward pass or input gradient over fewer than 3 channels, which fill at most half of
/// each texel, so the product would do at least twice the unfolded path's work along k (W3's first layer,
/// 1 channel: 14.2 against 10.6 ms; the weight gradient pads columns instead and stays faster, 12.4
/// against 19.6 ms there).
pub(super) fn plan(pass: Pass, p: &Conv2dParams, d: &Dims) -> Option<(Canvas, Vec<Sweep>)> {
    let [_, c_in, h, w, c_out, oh, ow, kh, kw] = d.0;
    let channels = if pass == Pass::BackwardInput {
        c_out
    } else {
        c_in
    };
    if channels < 3 && pass != Pass::BackwardWeight {
        return None;
    }
    if pass != Pass::BackwardInput {
        return Some(direct(p, d));
    }
    if p.stride == [1, 1] {
        return full_correlation(p, d);
    }
    if p.dilation != [1, 1] || kh < p.stride[0] || kw < p.stride[1] {
        return None;
    }
    // Per axis: each phase's first output row, positions, sub-kernel taps, and dy row of (py, ty) = (0, 0)
    // before padding (exact division: first + pad ≡ phase mod stride).
    let axis = |a: usize| {
        let (s, pad, k, size) = (p.stride[a], p.padding[a], [kh, kw][a], [h, w][a]);
        (0..s)
            .map(|phase| {
                let first = (phase + s * (pad / s + 1) - pad) % s;
                let count = size.saturating_sub(first).div_ceil(s);
                let taps = (k - phase).div_ceil(s);
                let base = (first + pad - phase) / s;
                (phase, first, count, taps, base)
            })
            .collect::<Vec<_>>()
    };
    let (ys, xs) = (axis(0), axis(1));
    // top/left padding of dy: every phase's first read (base - (taps - 1)) lands at or below it
    let pad_of = |v: &[(usize, usize, usize, usize, usize)]| {
        v.iter()
            .map(|&(_, _, _, t, b)| (t - 1).saturating_sub(b))
            .max()
            .unwrap_or(0)
    };
    let pad = [pad_of(&ys), pad_of(&xs)];
    let extent = |v: &[(usize, usize, usize, usize, usize)], pad: usize| {
        v.iter()
            .map(|&(_, _, n, _, b)| b + pad + n)
            .max()
            .unwrap_or(1)
            .max(1)
    };
    let canvas = Canvas {
        c: c_out,
        h: oh,
        w: ow,
        pad,
        hp: extent(&ys, pad[0]),
        wp: extent(&xs, pad[1]),
    };
    let mut sweeps = Vec::new();
    for &(py, fy, ny, ty, by) in &ys {
        for &(px, fx, nx, tx, bx) in &xs {
            if ny == 0 || nx == 0 {
                continue;
            }
            sweeps.push(Sweep {
                grid: [ny, nx],
                taps: [ty, tx],
                pos_step: [1, 1],
                tap_step: [1, 1],
                origin: [by + pad[0] + 1 - ty, bx + pad[1] + 1 - tx],
                first: [fy, fx],
                step: p.stride,
                out_size: [h, w],
                w_first: [py, px],
                w_step: p.stride,
                flip: true,
            });
        }
    }
    Some((canvas, sweeps))
}

/// The forward pass and the weight gradient: x padded by p, positions every s pixels, taps every d.
fn direct(p: &Conv2dParams, d: &Dims) -> (Canvas, Vec<Sweep>) {
    let [_, c_in, h, w, _, oh, ow, kh, kw] = d.0;
    let reach = |a: usize, o: usize, k: usize| (o - 1) * p.stride[a] + (k - 1) * p.dilation[a] + 1;
    let canvas = Canvas {
        c: c_in,
        h,
        w,
        pad: p.padding,
        hp: reach(0, oh, kh),
        wp: reach(1, ow, kw),
    };
    let sweep = Sweep::dense([oh, ow], [kh, kw], [p.stride, p.dilation], false);
    (canvas, vec![sweep])
}

/// The input gradient at stride 1: dy padded by `(k - 1)·d - p`, taps flipped.
fn full_correlation(p: &Conv2dParams, d: &Dims) -> Option<(Canvas, Vec<Sweep>)> {
    let [_, _, h, w, c_out, oh, ow, kh, kw] = d.0;
    let reach = [(kh - 1) * p.dilation[0], (kw - 1) * p.dilation[1]];
    let pad = [
        reach[0].checked_sub(p.padding[0])?,
        reach[1].checked_sub(p.padding[1])?,
    ];
    let canvas = Canvas {
        c: c_out,
        h: oh,
        w: ow,
        pad,
        hp: h + reach[0],
        wp: w + reach[1],
    };
    let sweep = Sweep::dense([h, w], [kh, kw], [[1, 1], p.dilation], true);
    Some((canvas, vec![sweep]))
}
