//! Composites that layers are made of, checked like primitives: transposed convolution (stride, padding,
//! output padding, dilation, groups; odd sizes), exact and tanh GELU, layer norm, nearest upsampling, and
//! the recurrent cells and small multi-layer, bidirectional and padded (variable-length) LSTM/GRU/RNN runs.
//! Every weight is a row input, so gradcheck covers backpropagation through time into all of them.

use super::matmul_conv::conv_p;
use super::Domain::*;
use super::{row, Family, Row};
use wgrad::graph::ConvTranspose2dParams;
use wgrad::nn::activation::{gelu, gelu_tanh};
use wgrad::nn::rnn::functional::{self as f, CellWeights, RnnArgs, RnnMode};
use wgrad::nn::{layer_norm, upsample_nearest};
use wgrad::{Result, Tensor};

pub(super) fn rows() -> Vec<Row> {
    let mut rows = conv_transpose_rows();
    rows.extend(elementwise_rows());
    rows.extend(cell_rows());
    rows.extend(recurrent_rows());
    rows
}

fn ct_p(
    stride: [usize; 2],
    padding: [usize; 2],
    output_padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> ConvTranspose2dParams {
    ConvTranspose2dParams {
        stride,
        padding,
        output_padding,
        dilation,
        groups,
    }
}

/// A transposed-convolution row with `p` (the bias is a third input when the shapes have one).
fn conv_transpose(shapes: &[&[&[usize]]], p: ConvTranspose2dParams) -> Row {
    let domains = vec![Any; shapes[0].len()];
    let c = p.conv();
    let family = Family::Conv2d(conv_p(c.stride, c.padding, c.dilation, c.groups));
    let r = row("conv_transpose2d", family, &domains, shapes, move |x| {
        x[0].conv_transpose2d(&x[1], x.get(2), p)
    });
    let [s, pad, op, d] = [p.stride, p.padding, p.output_padding, p.dilation];
    r.note(format!(
        "stride {s:?} padding {pad:?} output_padding {op:?} dilation {d:?} groups {}",
        p.groups
    ))
}

fn conv_transpose_rows() -> Vec<Row> {
    vec![
        conv_transpose(
            &[
                &[&[1, 1, 1, 1], &[1, 1, 1, 1]],
                &[&[2, 3, 4, 5], &[3, 2, 3, 2]],
            ],
            ct_p([1, 1], [0, 0], [0, 0], [1, 1], 1),
        ),
        conv_transpose(
            &[&[&[2, 3, 5, 4], &[3, 2, 3, 3], &[2]]],
            ct_p([2, 2], [1, 1], [1, 1], [1, 1], 1),
        ),
        // groups 2: input channels 4 = 2 groups of 2, each to 3 output channels
        conv_transpose(
            &[&[&[1, 4, 3, 5], &[4, 3, 3, 2], &[6]]],
            ct_p([2, 2], [0, 1], [1, 0], [1, 1], 2),
        ),
        // output_padding >= stride (allowed as it is < dilation): the uncropped path
        conv_transpose(
            &[&[&[1, 2, 4, 3], &[2, 3, 3, 3]]],
            ct_p([1, 1], [1, 1], [1, 1], [2, 2], 1),
        ),
        conv_transpose(
            &[&[&[2, 2, 3, 4], &[2, 1, 2, 3], &[2]]],
            ct_p([2, 3], [1, 0], [1, 2], [1, 2], 2),
        ),
        // the example autoencoder's decoder block at batch 2
        conv_transpose(
            &[&[&[2, 8, 7, 7], &[8, 4, 3, 3], &[4]]],
            ct_p([2, 2], [1, 1], [1, 1], [1, 1], 1),
        ),
    ]
}

fn elementwise_rows() -> Vec<Row> {
    let shapes: &[&[&[usize]]] = &[&[&[3, 5]], &[&[17, 3]], &[&[257]]];
    vec![
        row("gelu", Family::Unary, &[Any], shapes, |x| gelu(&x[0])),
        row("gelu_tanh", Family::Unary, &[Any], shapes, |x| {
            gelu_tanh(&x[0])
        }),
        row(
            "layer_norm",
            Family::Layer,
            &[Any, Any, Any],
            &[&[&[3, 5], &[5], &[5]], &[&[2, 3, 4, 5], &[4, 5], &[4, 5]]],
            |x| layer_norm(&x[0], x[1].dims(), Some(&x[1]), Some(&x[2]), 1e-5),
        ),
        row(
            "layer_norm",
            Family::Layer,
            &[Any],
            &[&[&[4, 17]], &[&[2, 45, 65]]],
            |x| layer_norm(&x[0], &[x[0].dims()[x[0].rank() - 1]], None, None, 1e-5),
        )
        .note("no affine"),
        row(
            "upsample_nearest",
            Family::Layer,
            &[Any],
            &[&[&[2, 3, 4, 5]], &[&[1, 1, 1, 1]]],
            |x| upsample_nearest(&x[0], &[2]),
        ),
        row(
            "upsample_nearest",
            Family::Layer,
            &[Any],
            &[&[&[1, 2, 3, 3]], &[&[2, 2, 7]]],
            |x| {
                let k: &[usize] = if x[0].rank() == 4 { &[3, 2] } else { &[3] };
                upsample_nearest(&x[0], k)
            },
        )
        .note("per-dim factors"),
    ]
}

/// `[x, h, (c,) weight_ih, weight_hh, bias_ih, bias_hh]` shapes of one cell step: batch `n`, input `c`,
/// hidden `h`.
fn cell_shapes(mode: RnnMode, n: usize, c: usize, h: usize) -> Vec<Vec<usize>> {
    let g = mode.gates() * h;
    let mut s = vec![vec![n, c], vec![n, h]];
    if mode == RnnMode::Lstm {
        s.push(vec![n, h]);
    }
    s.extend([vec![g, c], vec![g, h], vec![g], vec![g]]);
    s
}

fn weights(w: &[Tensor]) -> CellWeights<'_> {
    CellWeights {
        weight_ih: &w[0],
        weight_hh: &w[1],
        bias_ih: w.get(2),
        bias_hh: w.get(3),
    }
}

fn cell_row(name: &'static str, mode: RnnMode) -> Row {
    let shapes = vec![cell_shapes(mode, 2, 3, 4), cell_shapes(mode, 1, 1, 1)];
    row(
        name,
        Family::Layer,
        &vec![Any; shapes[0].len()],
        &[],
        move |x| match mode {
            RnnMode::Lstm => {
                let (h, c) = f::lstm_cell(&x[0], &x[1], &x[2], &weights(&x[3..]))?;
                Tensor::cat(&[&h, &c], 1)
            }
            RnnMode::Gru => f::gru_cell(&x[0], &x[1], &weights(&x[2..])),
            _ => f::rnn_cell(mode, &x[0], &x[1], &weights(&x[2..])),
        },
    )
    .with_shapes(shapes)
}

fn cell_rows() -> Vec<Row> {
    vec![
        cell_row("lstm_cell", RnnMode::Lstm),
        cell_row("gru_cell", RnnMode::Gru),
        cell_row("rnn_tanh_cell", RnnMode::RnnTanh),
        cell_row("rnn_relu_cell", RnnMode::RnnRelu),
    ]
}

/// A small recurrent run: `T = 3` steps of batch 2, input 2, hidden 2, `layers` layers, both directions
/// when `bidirectional`, `lengths` for a padded batch. Inputs: `x`, `h0` (, `c0`), then every cell's
/// `weight_ih, weight_hh, bias_ih, bias_hh`, layer-major.
struct Run {
    mode: RnnMode,
    layers: usize,
    bidirectional: bool,
    lengths: Option<[usize; 2]>,
}

impl Run {
    const T: usize = 3;
    const N: usize = 2;
    const C: usize = 2;
    const H: usize = 2;

    fn shapes(&self) -> Vec<Vec<usize>> {
        let dirs = if self.bidirectional { 2 } else { 1 };
        let state = vec![self.layers * dirs, Run::N, Run::H];
        let mut s = vec![vec![Run::T, Run::N, Run::C], state.clone()];
        if self.mode == RnnMode::Lstm {
            s.push(state);
        }
        let g = self.mode.gates() * Run::H;
        for layer in 0..self.layers {
            let input = if layer == 0 { Run::C } else { dirs * Run::H };
            for _ in 0..dirs {
                s.extend([vec![g, input], vec![g, Run::H], vec![g], vec![g]]);
            }
        }
        s
    }

    fn build(&self, x: &[Tensor]) -> Result<Tensor> {
        let lstm = self.mode == RnnMode::Lstm;
        let first = if lstm { 3 } else { 2 };
        let cells: Vec<CellWeights> = x[first..].chunks(4).map(weights).collect();
        let args = RnnArgs {
            num_layers: self.layers,
            bidirectional: self.bidirectional,
            lengths: self.lengths.as_ref().map(|l| &l[..]),
            ..RnnArgs::default()
        };
        let c0 = if lstm { Some(&x[2]) } else { None };
        let out = f::rnn(self.mode, &x[0], Some(&x[1]), c0, &cells, &args)?;
        // everything the run returns, flattened: output, h_n (, c_n)
        let mut parts = vec![out.output.flatten(0)?, out.h_n.flatten(0)?];
        parts.extend(out.c_n.map(|c| c.flatten(0)).transpose()?);
        Tensor::cat(&parts.iter().collect::<Vec<_>>(), 0)
    }

    fn row(self, name: &'static str) -> Row {
        let note = format!(
            "{} layer{}{}{}",
            self.layers,
            if self.layers > 1 { "s" } else { "" },
            if self.bidirectional {
                ", bidirectional"
            } else {
                ""
            },
            match self.lengths {
                Some(l) => format!(", lengths {l:?}"),
                None => String::new(),
            }
        );
        let shapes = vec![self.shapes()];
        row(
            name,
            Family::Layer,
            &vec![Any; shapes[0].len()],
            &[],
            move |x| self.build(x),
        )
        .with_shapes(shapes)
        .note(note)
    }
}

fn recurrent_rows() -> Vec<Row> {
    let run = |mode, layers, bidirectional, lengths| Run {
        mode,
        layers,
        bidirectional,
        lengths,
    };
    vec![
        run(RnnMode::Lstm, 2, true, None).row("lstm"),
        run(RnnMode::Lstm, 1, true, Some([3, 1])).row("lstm"),
        run(RnnMode::Gru, 2, true, None).row("gru"),
        run(RnnMode::Gru, 1, false, Some([2, 3])).row("gru"),
        run(RnnMode::RnnTanh, 2, false, None).row("rnn_tanh"),
        run(RnnMode::RnnRelu, 1, true, Some([1, 3])).row("rnn_relu"),
    ]
}
