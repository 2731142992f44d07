//! Recurrent layers: [`Rnn`] (Elman, tanh or ReLU), [`Lstm`] and [`Gru`], as PyTorch has them.
//!
//! Multi-layer and bidirectional, time-major `[T, N, C]` or batch-first `[N, T, C]` input (or one unbatched
//! sequence `[T, C]`), optional initial states `[L·D, N, H]`, dropout between layers in training. The
//! parameters have PyTorch's names, shapes, gate order and init, so a PyTorch `state_dict` loads as is:
//! `weight_ih_l{k}` `[G·H, C or D·H]`, `weight_hh_l{k}` `[G·H, H]`, `bias_ih_l{k}`, `bias_hh_l{k}` `[G·H]`,
//! with `_reverse` for the backward direction (`weight_ih_l0_reverse`), G = 1, 4 (i, f, g, o) or 3
//! (r, z, n), all drawn from `U(-1/√H, 1/√H)`. The math is in [`functional`].
//!
//! The time loop is unrolled in the graph: backpropagation through time is ordinary autodiff, and
//! [`crate::clip_grad_norm`] / [`crate::GradClip`] clip the gradients like any others. A sequence of length
//! T adds T steps of a few ops each to the graph, so very long sequences make large graphs.
//!
//! Variable-length batches: [`Lstm::forward_padded`] (and the same on [`Gru`], [`Rnn`]) takes the valid
//! length of each padded sequence, as PyTorch's `pack_padded_sequence` does: outputs past a sequence's
//! length are zero and its final state is the state at its last valid step (the steps past it are masked
//! with `where`, so they compute but change nothing), and the reverse direction starts at the last valid
//! step. The output keeps all T steps (`pad_packed_sequence(..., total_length=T)`).
//!
//! ```
//! use wgrad_graph::{DType, Device, Tensor};
//! use wgrad_nn::{Module, RnnConfig};
//!
//! # fn main() -> wgrad_graph::Result<()> {
//! let dev = Device::new(wgrad_cpu::CpuBackend);
//! let lstm = RnnConfig::new(3, 4).with_num_layers(2).with_bidirectional().init_lstm(&dev)?;
//! assert_eq!(lstm.state()[4].0, "weight_ih_l0_reverse");
//! let x = Tensor::randn([5, 2, 3], DType::F32, &dev)?; // [T, N, C]
//! let (out, (h_n, c_n)) = lstm.forward(&x, None)?;
//! assert_eq!((out.dims(), h_n.dims(), c_n.dims()), (&[5, 2, 8][..], &[4, 2, 4][..], &[4, 2, 4][..]));
//! // two padded sequences of lengths 5 and 2
//! let (out, _) = lstm.forward_padded(&x, &[5, 2], None)?;
//! assert!(out.narrow(0, 2, 3)?.narrow(1, 1, 1)?.to_vec::<f32>()?.iter().all(|&v| v == 0.0));
//! # Ok(())
//! # }
//! ```

pub mod functional;

use serde::{Deserialize, Serialize};
use wgrad_graph::{DType, Device, Error, Result, Tensor};

pub use functional::{CellWeights, RnnArgs, RnnMode, RnnOutput};

use crate::init;
use crate::module::{join, Module};
use crate::param::Param;

/// The nonlinearity of an Elman [`Rnn`] (PyTorch's `nonlinearity='tanh'` or `'relu'`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Nonlinearity {
    #[default]
    Tanh,
    Relu,
}

/// Configuration of the recurrent layers: the arguments PyTorch's `nn.RNN`, `nn.LSTM` and `nn.GRU` share
/// (`nonlinearity` is the RNN's only). [`RnnConfig::init`] makes an [`Rnn`], [`RnnConfig::init_lstm`] an
/// [`Lstm`], [`RnnConfig::init_gru`] a [`Gru`]. (PyTorch's LSTM `proj_size` is not supported.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RnnConfig {
    pub input_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    #[serde(default)]
    pub nonlinearity: Nonlinearity,
    pub bias: bool,
    pub batch_first: bool,
    /// Dropout on the outputs of every layer but the last, in training.
    pub dropout: f64,
    pub bidirectional: bool,
    /// Parameter dtype (f32; f64 and f16 where the backend computes them).
    #[serde(default = "init::default_dtype")]
    pub dtype: DType,
}

impl RnnConfig {
    /// One unidirectional layer with biases, time-major, tanh, no dropout (PyTorch's defaults).
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        RnnConfig {
            input_size,
            hidden_size,
            num_layers: 1,
            nonlinearity: Nonlinearity::Tanh,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
            dtype: DType::F32,
        }
    }

    pub fn with_num_layers(mut self, num_layers: usize) -> Self {
        self.num_layers = num_layers;
        self
    }

    pub fn with_nonlinearity(mut self, nonlinearity: Nonlinearity) -> Self {
        self.nonlinearity = nonlinearity;
        self
    }

    pub fn without_bias(mut self) -> Self {
        self.bias = false;
        self
    }

    /// Input and output `[N, T, ·]` (the states stay `[L·D, N, H]`).
    pub fn with_batch_first(mut self) -> Self {
        self.batch_first = true;
        self
    }

    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    pub fn with_bidirectional(mut self) -> Self {
        self.bidirectional = true;
        self
    }

    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// An Elman RNN with the config's `nonlinearity`.
    ///
    /// # Errors
    /// See [`RnnConfig::init_lstm`].
    pub fn init(&self, device: &Device) -> Result<Rnn> {
        let mode = match self.nonlinearity {
            Nonlinearity::Tanh => RnnMode::RnnTanh,
            Nonlinearity::Relu => RnnMode::RnnRelu,
        };
        Ok(Rnn {
            stack: Stack::new(self, mode, device)?,
        })
    }

    /// An LSTM.
    ///
    /// # Errors
    /// `Error::Argument` for a zero size or layer count, or `dropout` outside `[0, 1]`.
    pub fn init_lstm(&self, device: &Device) -> Result<Lstm> {
        Ok(Lstm {
            stack: Stack::new(self, RnnMode::Lstm, device)?,
        })
    }

    /// A GRU.
    ///
    /// # Errors
    /// See [`RnnConfig::init_lstm`].
    pub fn init_gru(&self, device: &Device) -> Result<Gru> {
        Ok(Gru {
            stack: Stack::new(self, RnnMode::Gru, device)?,
        })
    }

    fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
}

/// The parameters of one direction of one layer.
#[derive(Clone, Debug)]
pub struct CellParams {
    pub weight_ih: Param,
    pub weight_hh: Param,
    pub bias_ih: Option<Param>,
    pub bias_hh: Option<Param>,
}

impl CellParams {
    /// `[(name, param)]` with PyTorch's names for layer `layer`, `suffix` `""` or `"_reverse"`.
    fn named(&self, layer: usize, suffix: &str) -> Vec<(String, &Param)> {
        let mut v = vec![
            (format!("weight_ih_l{layer}{suffix}"), &self.weight_ih),
            (format!("weight_hh_l{layer}{suffix}"), &self.weight_hh),
        ];
        v.extend(
            self.bias_ih
                .iter()
                .map(|b| (format!("bias_ih_l{layer}{suffix}"), b)),
        );
        v.extend(
            self.bias_hh
                .iter()
                .map(|b| (format!("bias_hh_l{layer}{suffix}"), b)),
        );
        v
    }

    fn tensors(&self) -> CellTensors {
        CellTensors {
            weight_ih: self.weight_ih.tensor(),
            weight_hh: self.weight_hh.tensor(),
            bias_ih: self.bias_ih.as_ref().map(Param::tensor),
            bias_hh: self.bias_hh.as_ref().map(Param::tensor),
        }
    }
}

/// The current values of a cell's parameters.
struct CellTensors {
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Option<Tensor>,
    bias_hh: Option<Tensor>,
}

impl CellTensors {
    fn weights(&self) -> CellWeights<'_> {
        CellWeights {
            weight_ih: &self.weight_ih,
            weight_hh: &self.weight_hh,
            bias_ih: self.bias_ih.as_ref(),
            bias_hh: self.bias_hh.as_ref(),
        }
    }
}

/// The layers' common part: the cells (layer-major, reverse direction second) and the config.
#[derive(Clone, Debug)]
struct Stack {
    mode: RnnMode,
    cells: Vec<CellParams>,
    config: RnnConfig,
    training: bool,
}

impl Stack {
    fn new(c: &RnnConfig, mode: RnnMode, device: &Device) -> Result<Stack> {
        if c.input_size == 0
            || c.hidden_size == 0
            || c.num_layers == 0
            || !(0.0..=1.0).contains(&c.dropout)
        {
            return Err(Error::argument(
                mode.name(),
                format!(
                    "input_size {}, hidden_size {} and num_layers {} must be positive, dropout {} in [0, 1]",
                    c.input_size, c.hidden_size, c.num_layers, c.dropout
                ),
            ));
        }
        let (h, g) = (c.hidden_size, mode.gates() * c.hidden_size);
        let k = 1.0 / (h as f64).sqrt();
        let draw = |name: String, shape: Vec<usize>| {
            Param::trainable(name, init::uniform(shape, -k, k, c.dtype, device)?)
        };
        let dirs = c.directions();
        let mut cells = Vec::new();
        for layer in 0..c.num_layers {
            let input = if layer == 0 { c.input_size } else { dirs * h };
            for d in 0..dirs {
                let sfx = if d == 1 { "_reverse" } else { "" };
                let bias = |kind: &str| {
                    c.bias
                        .then(|| draw(format!("bias_{kind}_l{layer}{sfx}"), vec![g]))
                        .transpose()
                };
                cells.push(CellParams {
                    weight_ih: draw(format!("weight_ih_l{layer}{sfx}"), vec![g, input])?,
                    weight_hh: draw(format!("weight_hh_l{layer}{sfx}"), vec![g, h])?,
                    bias_ih: bias("ih")?,
                    bias_hh: bias("hh")?,
                });
            }
        }
        Ok(Stack {
            mode,
            cells,
            config: c.clone(),
            training: true,
        })
    }

    fn run(
        &self,
        x: &Tensor,
        h0: Option<&Tensor>,
        c0: Option<&Tensor>,
        lengths: Option<&[usize]>,
    ) -> Result<RnnOutput> {
        let tensors: Vec<CellTensors> = self.cells.iter().map(CellParams::tensors).collect();
        let weights: Vec<CellWeights> = tensors.iter().map(CellTensors::weights).collect();
        let c = &self.config;
        let args = RnnArgs {
            num_layers: c.num_layers,
            bidirectional: c.bidirectional,
            batch_first: c.batch_first,
            dropout: c.dropout,
            training: self.training,
            lengths,
        };
        functional::rnn(self.mode, x, h0, c0, &weights, &args)
    }
}

/// PyTorch's flat names: `weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, then `…_l0_reverse`,
/// then `…_l1`: the order of its `state_dict`.
impl Module for Stack {
    fn visit_params(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        let dirs = self.config.directions();
        for (k, cell) in self.cells.iter().enumerate() {
            let suffix = if k % dirs == 1 { "_reverse" } else { "" };
            for (name, p) in cell.named(k / dirs, suffix) {
                f(&join(prefix, &name), p);
            }
        }
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}

/// An Elman RNN, `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)` (or ReLU), PyTorch's `nn.RNN`.
///
/// # Shapes
/// - input `[T, N, C]` (`[N, T, C]` batch-first, `[T, C]` unbatched); `h0` `[L·D, N, H]`
/// - output `[T, N, D·H]`; `h_n` `[L·D, N, H]`
#[derive(Clone, Debug, crate::Module)]
pub struct Rnn {
    #[module(flatten)]
    stack: Stack,
}

/// A long short-term memory layer (Hochreiter & Schmidhuber 1997; PyTorch's `nn.LSTM`, gates i, f, g, o).
///
/// # Shapes
/// - input `[T, N, C]` (`[N, T, C]` batch-first, `[T, C]` unbatched); `h0`, `c0` `[L·D, N, H]`
/// - output `[T, N, D·H]`; `h_n`, `c_n` `[L·D, N, H]`
#[derive(Clone, Debug, crate::Module)]
pub struct Lstm {
    #[module(flatten)]
    stack: Stack,
}

/// A gated recurrent unit layer (Cho et al. 2014; PyTorch's `nn.GRU`, gates r, z, n).
///
/// # Shapes
/// - input `[T, N, C]` (`[N, T, C]` batch-first, `[T, C]` unbatched); `h0` `[L·D, N, H]`
/// - output `[T, N, D·H]`; `h_n` `[L·D, N, H]`
#[derive(Clone, Debug, crate::Module)]
pub struct Gru {
    #[module(flatten)]
    stack: Stack,
}

impl Lstm {
    /// `(output, (h_n, c_n))` for input `x` from the state `(h0, c0)` (zeros when `None`), as
    /// PyTorch's `lstm(x, (h0, c0))`.
    ///
    /// # Errors
    /// `Error::Shape` when `x` or a state does not fit the layer (see [`functional::rnn`]).
    pub fn forward(
        &self,
        x: &Tensor,
        state: Option<(&Tensor, &Tensor)>,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        self.forward_lengths(x, None, state)
    }

    /// [`Lstm::forward`] on a padded batch whose sequence `b` has `lengths[b]` valid steps (see the
    /// [module docs](self)).
    ///
    /// # Errors
    /// As [`Lstm::forward`], and `Error::Argument` when `lengths` has not one entry per sequence, each in
    /// `1..=T`.
    pub fn forward_padded(
        &self,
        x: &Tensor,
        lengths: &[usize],
        state: Option<(&Tensor, &Tensor)>,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        self.forward_lengths(x, Some(lengths), state)
    }

    fn forward_lengths(
        &self,
        x: &Tensor,
        lengths: Option<&[usize]>,
        state: Option<(&Tensor, &Tensor)>,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        let out = self
            .stack
            .run(x, state.map(|s| s.0), state.map(|s| s.1), lengths)?;
        let c_n = out
            .c_n
            .ok_or_else(|| Error::argument("lstm", "the LSTM run returned no cell state"))?;
        Ok((out.output, (out.h_n, c_n)))
    }

    /// The parameters of each layer and direction (layer-major, reverse second).
    pub fn cells(&self) -> &[CellParams] {
        &self.stack.cells
    }

    pub fn config(&self) -> &RnnConfig {
        &self.stack.config
    }
}

impl Gru {
    /// `(output, h_n)` for input `x` from the state `h0` (zeros when `None`), as PyTorch's `gru(x, h0)`.
    ///
    /// # Errors
    /// `Error::Shape` when `x` or `h0` does not fit the layer (see [`functional::rnn`]).
    pub fn forward(&self, x: &Tensor, h0: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let out = self.stack.run(x, h0, None, None)?;
        Ok((out.output, out.h_n))
    }

    /// [`Gru::forward`] on a padded batch whose sequence `b` has `lengths[b]` valid steps (see the
    /// [module docs](self)).
    ///
    /// # Errors
    /// As [`Lstm::forward_padded`].
    pub fn forward_padded(
        &self,
        x: &Tensor,
        lengths: &[usize],
        h0: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let out = self.stack.run(x, h0, None, Some(lengths))?;
        Ok((out.output, out.h_n))
    }

    /// The parameters of each layer and direction (layer-major, reverse second).
    pub fn cells(&self) -> &[CellParams] {
        &self.stack.cells
    }

    pub fn config(&self) -> &RnnConfig {
        &self.stack.config
    }
}

impl Rnn {
    /// `(output, h_n)` for input `x` from the state `h0` (zeros when `None`), as PyTorch's `rnn(x, h0)`.
    ///
    /// # Errors
    /// `Error::Shape` when `x` or `h0` does not fit the layer (see [`functional::rnn`]).
    pub fn forward(&self, x: &Tensor, h0: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let out = self.stack.run(x, h0, None, None)?;
        Ok((out.output, out.h_n))
    }

    /// [`Rnn::forward`] on a padded batch whose sequence `b` has `lengths[b]` valid steps (see the
    /// [module docs](self)).
    ///
    /// # Errors
    /// As [`Lstm::forward_padded`].
    pub fn forward_padded(
        &self,
        x: &Tensor,
        lengths: &[usize],
        h0: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let out = self.stack.run(x, h0, None, Some(lengths))?;
        Ok((out.output, out.h_n))
    }

    /// The parameters of each layer and direction (layer-major, reverse second).
    pub fn cells(&self) -> &[CellParams] {
        &self.stack.cells
    }

    pub fn config(&self) -> &RnnConfig {
        &self.stack.config
    }
}
