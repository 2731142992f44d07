//! The recurrences as functions of tensors: one step of a cell, and a whole multi-layer, optionally
//! bidirectional run unrolled over time (what the layers call with their parameters, and what tests call
//! with tensors that take gradients).
//!
//! The math is PyTorch's (`nn.RNN`, `nn.LSTM`, `nn.GRU` docs), gates stacked in its order along dim 0 of
//! `weight_ih [G·H, C]` and `weight_hh [G·H, H]`:
//! - RNN: `h' = act(W_ih x + b_ih + W_hh h + b_hh)`, act = tanh or relu;
//! - LSTM (i, f, g, o): `i = σ(…)`, `f = σ(…)`, `g = tanh(…)`, `o = σ(…)`, `c' = f⊙c + i⊙g`, `h' = o⊙tanh(c')`;
//! - GRU (r, z, n): `r = σ(W_ir x + b_ir + W_hr h + b_hr)`, `z = σ(…)`,
//!   `n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn))`, `h' = (1 - z)⊙n + z⊙h`.
//!
//! Each step computes its input projection `x_t W_ihᵀ + b_ih` and adds `h W_hhᵀ + b_hh`. (For RNN and LSTM
//! both biases are folded into the first; GRU keeps `b_hn` inside `r⊙(…)`.) Backpropagation through time is
//! the graph's own autodiff over the unrolled steps. Why not one matmul for the projections of all steps
//! before the loop: each step would then slice its rows out of the `[T, N, G·H]` result, and the gradient of
//! a slice is the full-size tensor zero-padded, so the backward pass would write and add T tensors of
//! `T·N·G·H` elements (quadratic in T; on a software adapter it took most of a step's time). Slicing the
//! input `x` instead costs `T·N·C` per step, and nothing when `x` needs no gradient.

use serde::{Deserialize, Serialize};
use wgrad_graph::{Error, Result, Tensor};

use crate::dropout::dropout;

/// Which recurrence (PyTorch's `mode` of `nn.RNNBase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RnnMode {
    /// Elman RNN with tanh.
    RnnTanh,
    /// Elman RNN with ReLU.
    RnnRelu,
    Lstm,
    Gru,
}

impl RnnMode {
    /// Number of gates stacked in the weights: 1, 1, 4, 3.
    pub fn gates(self) -> usize {
        match self {
            RnnMode::RnnTanh | RnnMode::RnnRelu => 1,
            RnnMode::Lstm => 4,
            RnnMode::Gru => 3,
        }
    }

    /// The op name in errors.
    pub fn name(self) -> &'static str {
        match self {
            RnnMode::RnnTanh | RnnMode::RnnRelu => "rnn",
            RnnMode::Lstm => "lstm",
            RnnMode::Gru => "gru",
        }
    }
}

/// The parameters of one cell (one direction of one layer): `weight_ih [G·H, C]`, `weight_hh [G·H, H]`,
/// `bias_ih [G·H]`, `bias_hh [G·H]`, G the mode's gate count.
#[derive(Clone, Copy, Debug)]
pub struct CellWeights<'a> {
    pub weight_ih: &'a Tensor,
    pub weight_hh: &'a Tensor,
    pub bias_ih: Option<&'a Tensor>,
    pub bias_hh: Option<&'a Tensor>,
}

impl CellWeights<'_> {
    /// The hidden size, after checking the shapes against `mode` and `input_size`.
    fn hidden(&self, mode: RnnMode, input_size: usize) -> Result<usize> {
        let (wi, wh) = (self.weight_ih.dims(), self.weight_hh.dims());
        let h = wh.get(1).copied().unwrap_or(0);
        let gh = mode.gates() * h;
        let bias_ok = |b: Option<&Tensor>| b.is_none_or(|b| b.dims() == [gh]);
        if wi != [gh, input_size]
            || wh != [gh, h]
            || !bias_ok(self.bias_ih)
            || !bias_ok(self.bias_hh)
        {
            let shape =
                |b: Option<&Tensor>| b.map_or("none".to_string(), |b| b.shape().to_string());
            return Err(Error::shape(
                mode.name(),
                format!(
                    "weights do not fit input size {input_size} with {} gates: weight_ih {}, weight_hh {}, bias_ih {}, bias_hh {}",
                    mode.gates(),
                    self.weight_ih.shape(),
                    self.weight_hh.shape(),
                    shape(self.bias_ih),
                    shape(self.bias_hh)
                ),
            ));
        }
        Ok(h)
    }

    /// `x W_ihᵀ + b_ih` (`+ b_hh` too, except for GRU) for `x [..., C]`.
    fn project_input(&self, mode: RnnMode, x: &Tensor) -> Result<Tensor> {
        let mut gi = x.matmul(&self.weight_ih.t()?)?;
        if let Some(b) = self.bias_ih {
            gi = gi.add(b)?;
        }
        match (mode, self.bias_hh) {
            (RnnMode::Gru, _) | (_, None) => Ok(gi),
            (_, Some(b)) => gi.add(b),
        }
    }
}

/// Gate `k` of `[N, G·H]` gates: columns `k·H .. (k+1)·H`.
fn gate(gates: &Tensor, k: usize, h: usize) -> Result<Tensor> {
    gates.narrow(1, k * h, h)
}

/// One step from the projected input `gi [N, G·H]` (see [`CellWeights::project_input`]) and the state
/// `h [N, H]` (and `c [N, H]` for LSTM): the new `(h, c)`.
fn step(
    mode: RnnMode,
    w: &CellWeights,
    gi: &Tensor,
    h: &Tensor,
    c: Option<&Tensor>,
) -> Result<(Tensor, Option<Tensor>)> {
    let hs = h.dims()[1];
    let hh = h.matmul(&w.weight_hh.t()?)?;
    match mode {
        RnnMode::RnnTanh => Ok((gi.add(&hh)?.tanh()?, None)),
        RnnMode::RnnRelu => Ok((gi.add(&hh)?.relu()?, None)),
        RnnMode::Lstm => {
            let c = c.ok_or_else(|| Error::argument("lstm", "an LSTM step needs a cell state"))?;
            let gates = gi.add(&hh)?;
            let i = gate(&gates, 0, hs)?.sigmoid()?;
            let f = gate(&gates, 1, hs)?.sigmoid()?;
            let g = gate(&gates, 2, hs)?.tanh()?;
            let o = gate(&gates, 3, hs)?.sigmoid()?;
            let c_new = f.mul(c)?.add(&i.mul(&g)?)?;
            let h_new = o.mul(&c_new.tanh()?)?;
            Ok((h_new, Some(c_new)))
        }
        RnnMode::Gru => {
            let gh = match w.bias_hh {
                Some(b) => hh.add(b)?,
                None => hh,
            };
            let r = gate(gi, 0, hs)?.add(&gate(&gh, 0, hs)?)?.sigmoid()?;
            let z = gate(gi, 1, hs)?.add(&gate(&gh, 1, hs)?)?.sigmoid()?;
            let n = gate(gi, 2, hs)?.add(&r.mul(&gate(&gh, 2, hs)?)?)?.tanh()?;
            // (1 - z)⊙n + z⊙h = n + z⊙(h - n)
            Ok((n.add(&z.mul(&h.sub(&n)?)?)?, None))
        }
    }
}

/// One cell step on `x [N, C]` with state `h [N, H]` (and `c [N, H]` for LSTM), checked.
fn cell(
    mode: RnnMode,
    x: &Tensor,
    h: &Tensor,
    c: Option<&Tensor>,
    w: &CellWeights,
) -> Result<(Tensor, Option<Tensor>)> {
    if x.rank() != 2 {
        return Err(Error::shape(
            mode.name(),
            format!("a cell takes input [n, c], got {}", x.shape()),
        ));
    }
    let hs = w.hidden(mode, x.dims()[1])?;
    let want = [x.dims()[0], hs];
    for s in std::iter::once(h).chain(c) {
        if s.dims() != want {
            return Err(Error::shape(
                mode.name(),
                format!(
                    "state {} does not fit input {} (expected {want:?})",
                    s.shape(),
                    x.shape()
                ),
            ));
        }
    }
    step(mode, w, &w.project_input(mode, x)?, h, c)
}

/// One LSTM step (PyTorch's `nn.LSTMCell`): `(h', c')` from `x [N, C]`, `h`, `c [N, H]`.
///
/// # Errors
/// `Error::Shape` when the shapes do not fit each other.
pub fn lstm_cell(x: &Tensor, h: &Tensor, c: &Tensor, w: &CellWeights) -> Result<(Tensor, Tensor)> {
    let (h, c) = cell(RnnMode::Lstm, x, h, Some(c), w)?;
    let c = c.ok_or_else(|| Error::argument("lstm", "the LSTM step returned no cell state"))?;
    Ok((h, c))
}

/// One GRU step (PyTorch's `nn.GRUCell`): `h'` from `x [N, C]` and `h [N, H]`.
///
/// # Errors
/// `Error::Shape` when the shapes do not fit each other.
pub fn gru_cell(x: &Tensor, h: &Tensor, w: &CellWeights) -> Result<Tensor> {
    Ok(cell(RnnMode::Gru, x, h, None, w)?.0)
}

/// One Elman RNN step (PyTorch's `nn.RNNCell`, `mode` `RnnTanh` or `RnnRelu`): `h'` from `x [N, C]` and
/// `h [N, H]`.
///
/// # Errors
/// `Error::Argument` for an LSTM or GRU `mode`; `Error::Shape` when the shapes do not fit each other.
pub fn rnn_cell(mode: RnnMode, x: &Tensor, h: &Tensor, w: &CellWeights) -> Result<Tensor> {
    if !matches!(mode, RnnMode::RnnTanh | RnnMode::RnnRelu) {
        return Err(Error::argument(
            "rnn",
            format!("rnn_cell takes RnnTanh or RnnRelu, got {mode:?}"),
        ));
    }
    Ok(cell(mode, x, h, None, w)?.0)
}

/// How [`rnn`] runs: PyTorch's `RNNBase` arguments, and per-sequence lengths.
#[derive(Clone, Copy, Debug)]
pub struct RnnArgs<'a> {
    pub num_layers: usize,
    pub bidirectional: bool,
    /// Input and output are `[N, T, ·]` instead of `[T, N, ·]` (the states are not affected).
    pub batch_first: bool,
    /// Dropout on the outputs of every layer but the last, when `training`.
    pub dropout: f64,
    pub training: bool,
    /// Valid steps of each sequence of the batch (PyTorch's `pack_padded_sequence` lengths), `1..=T`, any
    /// order. `None`: every sequence has all `T` steps.
    pub lengths: Option<&'a [usize]>,
}

impl Default for RnnArgs<'_> {
    fn default() -> Self {
        RnnArgs {
            num_layers: 1,
            bidirectional: false,
            batch_first: false,
            dropout: 0.0,
            training: false,
            lengths: None,
        }
    }
}

/// What [`rnn`] returns.
#[derive(Clone, Debug)]
pub struct RnnOutput {
    /// `[T, N, D·H]` (`[N, T, D·H]` batch-first, `[T, D·H]` for unbatched input): the last layer's `h` at
    /// every step, the directions side by side; zeros past a sequence's length.
    pub output: Tensor,
    /// `[L·D, N, H]` (`[L·D, H]` unbatched): the final `h` of every layer and direction (layer-major, the
    /// reverse direction second), taken at each sequence's last valid step.
    pub h_n: Tensor,
    /// The final cell states of an LSTM, like `h_n`; `None` otherwise.
    pub c_n: Option<Tensor>,
}

/// The checked time-major input `[T, N, C]`, whether it came unbatched, and (with lengths) the mask of
/// valid steps `[T, N, 1]`.
struct Prepared {
    x: Tensor,
    unbatched: bool,
    mask: Option<Tensor>,
}

fn prepare(mode: RnnMode, x: &Tensor, args: &RnnArgs) -> Result<Prepared> {
    let unbatched = x.rank() == 2;
    let x = match x.rank() {
        2 => x.unsqueeze(1)?,
        3 if args.batch_first => x.transpose(0, 1)?,
        3 => x.clone(),
        _ => {
            return Err(Error::shape(
                mode.name(),
                format!(
                    "input must be [T, N, C], [N, T, C] (batch_first) or [T, C], got {}",
                    x.shape()
                ),
            ))
        }
    };
    if args.num_layers == 0 || !(0.0..=1.0).contains(&args.dropout) {
        return Err(Error::argument(
            mode.name(),
            format!(
                "num_layers must be positive and dropout in [0, 1], got {} and {}",
                args.num_layers, args.dropout
            ),
        ));
    }
    let (t, n) = (x.dims()[0], x.dims()[1]);
    let mask = match args.lengths {
        None => None,
        Some(lengths) => {
            if lengths.len() != n || lengths.iter().any(|&l| l == 0 || l > t) {
                return Err(Error::argument(
                    mode.name(),
                    format!("lengths {lengths:?} must be one per sequence ({n}), each in 1..={t}"),
                ));
            }
            let valid: Vec<bool> = (0..t)
                .flat_map(|s| lengths.iter().map(move |&l| s < l))
                .collect();
            Some(Tensor::from_vec(valid, [t, n, 1], x.device())?)
        }
    };
    Ok(Prepared { x, unbatched, mask })
}

/// The initial state `[L·D, N, H]` (unbatched: `[L·D, H]`), checked, or zeros.
fn initial(
    mode: RnnMode,
    what: &str,
    s: Option<&Tensor>,
    p: &Prepared,
    dims: [usize; 3],
) -> Result<Tensor> {
    let Some(s) = s else {
        return Ok(Tensor::zeros(dims.to_vec(), p.x.dtype(), p.x.device()));
    };
    let s = if p.unbatched {
        s.unsqueeze(1)?
    } else {
        s.clone()
    };
    if s.dims() != dims {
        return Err(Error::shape(
            mode.name(),
            format!(
                "{what} {} does not fit input {}: expected {dims:?}",
                s.shape(),
                p.x.shape()
            ),
        ));
    }
    Ok(s)
}

/// One direction of one layer over the whole sequence: the outputs `[T, N, H]` and the final `(h, c)`.
fn run_direction(
    mode: RnnMode,
    w: &CellWeights,
    x: &Tensor,
    state: (Tensor, Option<Tensor>),
    reverse: bool,
    mask: Option<&Tensor>,
) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let (t_len, n) = (x.dims()[0], x.dims()[1]);
    let g = w.weight_ih.dims()[0];
    // Biases are broadcast to [N, G·H] once, so their gradients are summed over time elementwise and
    // reduced over the batch once (a broadcast per step would be one reduction per step).
    let w_ih_t = w.weight_ih.t()?;
    let input_bias = match (mode, w.bias_ih, w.bias_hh) {
        (RnnMode::Gru, b, _) | (_, b, None) | (_, None, b) => b.cloned(),
        (_, Some(bi), Some(bh)) => Some(bi.add(bh)?),
    }
    .map(|b| b.expand([n, g]))
    .transpose()?;
    let hidden_bias = match mode {
        RnnMode::Gru => w.bias_hh.map(|b| b.expand([n, g])).transpose()?,
        _ => None,
    };
    let w = &CellWeights {
        bias_hh: hidden_bias.as_ref(),
        ..*w
    };
    let (mut h, mut c) = state;
    let mut outs = vec![None; t_len];
    for k in 0..t_len {
        let t = if reverse { t_len - 1 - k } else { k };
        let mut gi = x.narrow(0, t, 1)?.squeeze(0)?.matmul(&w_ih_t)?;
        if let Some(b) = &input_bias {
            gi = gi.add(b)?;
        }
        let (h_new, c_new) = step(mode, w, &gi, &h, c.as_ref())?;
        match mask {
            None => {
                outs[t] = Some(h_new.clone());
                (h, c) = (h_new, c_new);
            }
            Some(m) => {
                // past a sequence's length: output 0, state unchanged (so the reverse direction starts
                // at the last valid step, as on a packed sequence)
                let valid = m.narrow(0, t, 1)?.reshape([n, 1])?;
                outs[t] = Some(valid.where_(&h_new, 0.0)?);
                h = valid.where_(&h_new, &h)?;
                c = match (c, c_new) {
                    (Some(old), Some(new)) => Some(valid.where_(&new, &old)?),
                    (old, _) => old,
                };
            }
        }
    }
    let outs: Vec<Tensor> = outs.into_iter().flatten().collect();
    let refs: Vec<&Tensor> = outs.iter().collect();
    Ok((Tensor::stack(&refs, 0)?, h, c))
}

/// A multi-layer, optionally bidirectional recurrence over a sequence (PyTorch's `torch.rnn_tanh`,
/// `torch.lstm`, `torch.gru`, which `nn.RNN`/`nn.LSTM`/`nn.GRU` call), unrolled in the graph.
///
/// `weights` hold one [`CellWeights`] per layer and direction, layer-major (`l0`, `l0_reverse`, `l1`, …).
/// `h0` (and `c0` for LSTM) default to zeros. With `args.lengths`, each sequence stops at its length: the
/// output past it is zero and its final state is the state at its last step; the reverse direction starts
/// at that last step. That is `pack_padded_sequence` → the layer → `pad_packed_sequence(total_length=T)`
/// in PyTorch; the padding values never matter.
///
/// # Shapes
/// - `x`: `[T, N, C]`, `[N, T, C]` with `batch_first`, or `[T, C]` (one unbatched sequence)
/// - `h0`, `c0`: `[L·D, N, H]` (`[L·D, H]` unbatched), D = 2 when bidirectional
/// - see [`RnnOutput`] for the results
///
/// # Errors
/// `Error::Shape` when `x`, a state or a weight has the wrong shape; `Error::Argument` for a weight count
/// other than `L·D`, `num_layers` 0, `dropout` outside `[0, 1]`, lengths that do not fit, or `c0` for a
/// mode other than LSTM.
pub fn rnn(
    mode: RnnMode,
    x: &Tensor,
    h0: Option<&Tensor>,
    c0: Option<&Tensor>,
    weights: &[CellWeights],
    args: &RnnArgs,
) -> Result<RnnOutput> {
    let p = prepare(mode, x, args)?;
    let dirs = if args.bidirectional { 2 } else { 1 };
    if c0.is_some() && mode != RnnMode::Lstm {
        return Err(Error::argument(mode.name(), "c0 is for LSTM only"));
    }
    if weights.len() != args.num_layers * dirs {
        return Err(Error::argument(
            mode.name(),
            format!(
                "expected {} cells ({} layers, {dirs} directions), got {}",
                args.num_layers * dirs,
                args.num_layers,
                weights.len()
            ),
        ));
    }
    let hs = weights[0].weight_hh.dims().get(1).copied().unwrap_or(0);
    let dims = [weights.len(), p.x.dims()[1], hs];
    let h0 = initial(mode, "h0", h0, &p, dims)?;
    let c0 = match mode {
        RnnMode::Lstm => Some(initial(mode, "c0", c0, &p, dims)?),
        _ => None,
    };
    let (mut input, mut h_n, mut c_n) = (p.x.clone(), Vec::new(), Vec::new());
    for layer in 0..args.num_layers {
        if layer > 0 {
            input = dropout(&input, args.dropout, args.training)?;
        }
        let mut outs = Vec::new();
        for d in 0..dirs {
            let k = layer * dirs + d;
            let w = &weights[k];
            if w.hidden(mode, input.dims()[2])? != hs {
                return Err(Error::shape(
                    mode.name(),
                    format!(
                        "cell {k} has hidden size {}, cell 0 {hs}",
                        w.weight_hh.dims()[1]
                    ),
                ));
            }
            let state = (
                h0.narrow(0, k, 1)?.squeeze(0)?,
                c0.as_ref()
                    .map(|c| c.narrow(0, k, 1)?.squeeze(0))
                    .transpose()?,
            );
            let (out, h, c) = run_direction(mode, w, &input, state, d == 1, p.mask.as_ref())?;
            outs.push(out);
            h_n.push(h);
            c_n.extend(c);
        }
        input = match outs.len() {
            1 => outs.remove(0),
            _ => Tensor::cat(&[&outs[0], &outs[1]], -1)?,
        };
    }
    finish(p, args, input, h_n, c_n)
}

/// Stacks the final states and brings the output back to the caller's layout.
fn finish(
    p: Prepared,
    args: &RnnArgs,
    output: Tensor,
    h_n: Vec<Tensor>,
    c_n: Vec<Tensor>,
) -> Result<RnnOutput> {
    let stack = |v: &[Tensor]| -> Result<Tensor> {
        let s = Tensor::stack(&v.iter().collect::<Vec<_>>(), 0)?;
        if p.unbatched {
            s.squeeze(1)
        } else {
            Ok(s)
        }
    };
    let output = if p.unbatched {
        output.squeeze(1)?
    } else if args.batch_first {
        output.transpose(0, 1)?
    } else {
        output
    };
    Ok(RnnOutput {
        output,
        h_n: stack(&h_n)?,
        c_n: if c_n.is_empty() {
            None
        } else {
            Some(stack(&c_n)?)
        },
    })
}
