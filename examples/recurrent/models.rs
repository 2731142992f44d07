//! The recurrent example's models: an LSTM or GRU that reads an MNIST digit one pixel row per time step
//! ([`RowClassifier`]), and a character-level language model ([`CharLm`]: `Embedding → LSTM/GRU →
//! Linear`). `tests/recurrent_training.rs` includes this file too (`#[path]`), so it trains these models.

use wgrad::graph::philox;
use wgrad::nn::{
    Embedding, EmbeddingConfig, Forward, Gru, Linear, LinearConfig, Lstm, Module, RnnConfig,
};
use wgrad::{no_grad, realize, Device, Error, Result, Tensor};

/// Which recurrent cell (`--cell`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CellKind {
    /// Long short-term memory (gates i, f, g, o; a cell state besides h).
    Lstm,
    /// Gated recurrent unit (gates r, z, n).
    Gru,
}

impl CellKind {
    /// `"LSTM"` or `"GRU"`, for titles and file names.
    pub fn label(self) -> &'static str {
        match self {
            CellKind::Lstm => "LSTM",
            CellKind::Gru => "GRU",
        }
    }
}

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// The state a recurrent layer carries between calls: `h` `[L, N, H]`, and `c` for an LSTM.
#[derive(Clone, Debug)]
pub struct State {
    pub h: Tensor,
    pub c: Option<Tensor>,
}

impl State {
    /// The state's tensors, to realize them with an output.
    pub fn tensors(&self) -> Vec<&Tensor> {
        std::iter::once(&self.h).chain(&self.c).collect()
    }
}

/// An LSTM or a GRU, batch-first: one type for both, so the models below are written once.
#[derive(Debug, Module)]
pub struct Recurrent {
    lstm: Option<Lstm>,
    gru: Option<Gru>,
}

impl Recurrent {
    /// A single-layer, batch-first layer of `kind` from `input` to `hidden` features.
    pub fn new(kind: CellKind, input: usize, hidden: usize, dev: &Device) -> Result<Self> {
        let config = RnnConfig::new(input, hidden).with_batch_first();
        Ok(match kind {
            CellKind::Lstm => Recurrent {
                lstm: Some(config.init_lstm(dev)?),
                gru: None,
            },
            CellKind::Gru => Recurrent {
                lstm: None,
                gru: Some(config.init_gru(dev)?),
            },
        })
    }

    /// The outputs `[N, T, H]` for `x` `[N, T, C]` and the final state (zeros to start with when `state` is
    /// `None`).
    pub fn forward(&self, x: &Tensor, state: Option<&State>) -> Result<(Tensor, State)> {
        match (&self.lstm, &self.gru) {
            (Some(lstm), _) => {
                let s = match state {
                    Some(State { h, c: Some(c) }) => Some((h, c)),
                    _ => None,
                };
                let (out, (h, c)) = lstm.forward(x, s)?;
                Ok((out, State { h, c: Some(c) }))
            }
            (None, Some(gru)) => {
                let (out, h) = gru.forward(x, state.map(|s| &s.h))?;
                Ok((out, State { h, c: None }))
            }
            (None, None) => Err(Error::argument("recurrent", "no cell")),
        }
    }
}

/// Sequential MNIST, row by row: the 28 rows of a digit are 28 time steps of 28 pixels; the final hidden
/// state goes through a linear layer to 10 class scores.
///
/// # Shapes
/// - input `[N, 1, 28, 28]` or `[N, 28, 28]`; output `[N, 10]`
#[derive(Debug, Module)]
pub struct RowClassifier {
    rnn: Recurrent,
    head: Linear,
}

/// Pixels per row (the input features of a step) and rows (the steps).
pub const ROW: usize = 28;

impl RowClassifier {
    pub fn new(kind: CellKind, hidden: usize, dev: &Device) -> Result<Self> {
        Ok(RowClassifier {
            rnn: Recurrent::new(kind, ROW, hidden, dev)?,
            head: LinearConfig::new(hidden, 10).init(dev)?,
        })
    }
}

impl Forward for RowClassifier {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dims()[0];
        let rows = x.reshape([n, ROW, ROW])?;
        let (_, state) = self.rnn.forward(&rows, None)?;
        // h_n is [layers, N, H]: the last (only) layer's final state
        self.head.forward(&state.h.squeeze(0)?)
    }
}

/// A character-level language model: each character id becomes an embedding, an LSTM or GRU reads them,
/// and a linear layer scores the next character.
///
/// # Shapes
/// - input ids i32 `[N, T]`; output logits `[N, T, V]`
#[derive(Debug, Module)]
pub struct CharLm {
    embed: Embedding,
    rnn: Recurrent,
    head: Linear,
}

impl CharLm {
    pub fn new(
        kind: CellKind,
        vocab: usize,
        dim: usize,
        hidden: usize,
        dev: &Device,
    ) -> Result<Self> {
        Ok(CharLm {
            embed: EmbeddingConfig::new(vocab, dim).init(dev)?,
            rnn: Recurrent::new(kind, dim, hidden, dev)?,
            head: LinearConfig::new(hidden, vocab).init(dev)?,
        })
    }

    /// Logits for the character after each input, and the state after the last one.
    pub fn forward(&self, ids: &Tensor, state: Option<&State>) -> Result<(Tensor, State)> {
        let (out, state) = self.rnn.forward(&self.embed.forward(ids)?, state)?;
        Ok((self.head.forward(&out)?, state))
    }

    /// Mean cross-entropy (nats per character) of predicting `targets` `[N, T]` from `ids` `[N, T]`.
    pub fn loss(&self, ids: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let (logits, _) = self.forward(ids, None)?;
        let v = logits.dims()[2];
        let flat = logits.reshape([ids.numel(), v])?;
        wgrad::nn::cross_entropy(&flat, &targets.reshape([targets.numel()])?)
    }

    /// `len` characters sampled after `prompt` (ids), each drawn from the softmax of the logits divided by
    /// `temperature`. The prompt is read in one call; then each character is one step (one realize of the
    /// logits and the new state). The draws come from Philox keyed by `seed`, on the host.
    pub fn sample(
        &mut self,
        prompt: &[i32],
        len: usize,
        temperature: f64,
        seed: u64,
        dev: &Device,
    ) -> Result<Vec<i32>> {
        self.eval();
        let out = no_grad(|| -> Result<Vec<i32>> {
            let ids = Tensor::from_slice(prompt, [1, prompt.len()], dev)?;
            let (logits, mut state) = self.forward(&ids, None)?;
            let v = logits.dims()[2];
            let mut last = logits.narrow(1, prompt.len() - 1, 1)?.reshape([v])?;
            let mut out = Vec::with_capacity(len);
            for i in 0..len {
                let mut targets = vec![&last];
                targets.extend(state.tensors());
                realize(&targets)?;
                let next = sample_logits(&last.to_vec::<f32>()?, temperature, seed, i as u64);
                out.push(next);
                let ids = Tensor::from_slice(&[next], [1, 1], dev)?;
                let (logits, s) = self.forward(&ids, Some(&state))?;
                last = logits.reshape([v])?;
                state = s;
            }
            Ok(out)
        });
        self.train();
        out
    }
}

/// An index drawn from `softmax(logits / temperature)` with the uniform number Philox gives `(seed, i)`.
pub fn sample_logits(logits: &[f32], temperature: f64, seed: u64, i: u64) -> i32 {
    let t = temperature.max(1e-6);
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let weights: Vec<f64> = logits
        .iter()
        .map(|&l| ((l as f64 - max) / t).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let u = f64::from(philox::words(seed, 0, i)[0]) / f64::from(u32::MAX) * total;
    let mut acc = 0.0;
    for (k, w) in weights.iter().enumerate() {
        acc += w;
        if u <= acc {
            return k as i32;
        }
    }
    (weights.len() - 1) as i32
}
