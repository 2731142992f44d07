//! The regularized MLP and the two tools that act outside the loss: the max-norm constraint and early
//! stopping. The test `tests/regularization.rs` includes this file, so it checks exactly what the example
//! runs.

use wgrad::nn::{
    Activation, BatchNorm, BatchNormConfig, Dropout, Forward, Linear, LinearConfig, Module, Param,
};
use wgrad::{no_grad, realize, Device, Result, Tensor};

/// Pixels of an MNIST image and classes.
pub const PIXELS: usize = 28 * 28;
pub const CLASSES: usize = 10;

/// One hidden layer: `Linear → BatchNorm (optional) → ReLU → Dropout`.
#[derive(Debug, wgrad::nn::Module)]
pub struct Block {
    pub linear: Linear,
    pub norm: Option<BatchNorm>,
    pub dropout: Dropout,
}

impl Forward for Block {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self.linear.forward(x)?;
        if let Some(norm) = &self.norm {
            h = norm.forward(&h)?;
        }
        self.dropout.forward(&Activation::Relu.forward(&h)?)
    }
}

/// `784 → hidden blocks → Linear(10)`. Takes `[n, 1, 28, 28]` or `[n, 784]` images, gives logits `[n, 10]`.
#[derive(Debug, wgrad::nn::Module)]
pub struct Mlp {
    pub hidden: Vec<Block>,
    pub head: Linear,
}

impl Mlp {
    /// Hidden widths `hidden`, dropout probability `dropout` after every hidden layer, and batch norm
    /// between each hidden linear layer and its ReLU when `batch_norm`. (The hidden linear layers keep their
    /// bias even with batch norm, whose mean subtraction cancels it: the max-norm constraint is about the
    /// weights, and a bias makes the no-batch-norm variant a plain MLP.)
    pub fn new(hidden: &[usize], dropout: f64, batch_norm: bool, dev: &Device) -> Result<Mlp> {
        let mut blocks = Vec::new();
        let mut width = PIXELS;
        for &h in hidden {
            blocks.push(Block {
                linear: LinearConfig::new(width, h).init(dev)?,
                norm: if batch_norm {
                    Some(BatchNormConfig::new(h).init_1d(dev)?)
                } else {
                    None
                },
                dropout: Dropout::new(dropout)?,
            });
            width = h;
        }
        Ok(Mlp {
            hidden: blocks,
            head: LinearConfig::new(width, CLASSES).init(dev)?,
        })
    }

    /// The hidden layers' weights, `[units, inputs]` each: what the max-norm constraint bounds.
    pub fn hidden_weights(&self) -> Vec<Param> {
        self.hidden
            .iter()
            .map(|b| b.linear.weight.clone())
            .collect()
    }
}

impl Forward for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.reshape([x.dims()[0], PIXELS])?;
        for block in &self.hidden {
            h = block.forward(&h)?;
        }
        self.head.forward(&h)
    }
}

/// The max-norm constraint (Srebro & Shraibman 2005; with dropout, Srivastava et al. 2014): after each
/// step, every row of each weight (the incoming weights of one unit) whose L2 norm exceeds `c` is scaled
/// back to norm `c`; shorter rows stay as they are. In graph ops: `w ← w · c / max(‖w_row‖, c)`, which is
/// `min(1, c/‖w_row‖)` without a division by a zero norm.
///
/// It runs under `no_grad` (the projection is not part of what is differentiated), realizes all the new
/// weights in one schedule, and swaps them in with [`Param::set`]. Returns how many rows were scaled down.
///
/// # Shapes
/// - every weight `[units, inputs]`
pub fn apply_max_norm(weights: &[Param], c: f64) -> Result<usize> {
    no_grad(|| {
        let mut new = Vec::with_capacity(weights.len());
        let mut clipped = Vec::with_capacity(weights.len());
        for p in weights {
            let w = p.tensor();
            let norms = w.mul(&w)?.sum(&[1], true)?.sqrt()?; // [units, 1]
            let scale = norms.maximum(c)?.recip()?.mul(c)?;
            clipped.push(norms.gt(c)?.count_true(&[0, 1], false)?);
            new.push(w.mul(&scale)?);
        }
        let targets: Vec<&Tensor> = new.iter().chain(&clipped).collect();
        realize(&targets)?;
        for (p, w) in weights.iter().zip(&new) {
            p.set(w)?;
        }
        let mut count = 0;
        for c in &clipped {
            count += c.item()? as usize;
        }
        Ok(count)
    })
}

/// The largest row norm over `weights` (to check the constraint holds).
pub fn max_row_norm(weights: &[Param]) -> Result<f64> {
    let mut largest = 0.0f64;
    for p in weights {
        let w = p.tensor();
        let norms = no_grad(|| w.mul(&w)?.sum(&[1], false)?.sqrt()?.max_all())?;
        largest = largest.max(norms.item()?);
    }
    Ok(largest)
}

/// What [`EarlyStopping::update`] decided after an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A new best validation loss: keep a copy of the weights.
    Improved,
    /// No improvement for this many epochs in a row (fewer than the patience).
    Waiting(usize),
    /// No improvement for `patience` epochs: stop and restore the best weights.
    Stop,
}

/// Early stopping on a validation loss: stop after `patience` epochs without an improvement larger than
/// `min_delta`, then go back to the weights of the best epoch.
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    pub patience: usize,
    pub min_delta: f64,
    best: Option<(usize, f64)>,
    bad_epochs: usize,
}

impl EarlyStopping {
    pub fn new(patience: usize, min_delta: f64) -> Self {
        EarlyStopping {
            patience: patience.max(1),
            min_delta,
            best: None,
            bad_epochs: 0,
        }
    }

    /// Records epoch `epoch`'s (1-based) validation loss.
    pub fn update(&mut self, epoch: usize, val_loss: f64) -> Status {
        let improved = match self.best {
            None => true,
            Some((_, best)) => val_loss < best - self.min_delta,
        };
        if improved {
            self.best = Some((epoch, val_loss));
            self.bad_epochs = 0;
            Status::Improved
        } else {
            self.bad_epochs += 1;
            if self.bad_epochs >= self.patience {
                Status::Stop
            } else {
                Status::Waiting(self.bad_epochs)
            }
        }
    }

    /// The best (epoch, validation loss) so far.
    pub fn best(&self) -> Option<(usize, f64)> {
        self.best
    }
}

/// The values of every parameter and buffer of a model (batch-norm running statistics included) at one
/// moment. Tensors are immutable and each optimizer step swaps new ones into the parameters, so holding
/// the current handles is a copy: nothing is read back to the host.
#[derive(Debug)]
pub struct Snapshot(Vec<(Param, Tensor)>);

impl Snapshot {
    pub fn take(model: &dyn Module) -> Snapshot {
        Snapshot(
            model
                .state()
                .into_iter()
                .map(|(_, p)| (p.clone(), p.tensor()))
                .collect(),
        )
    }

    /// Puts the saved values back into the parameters they came from.
    pub fn restore(&self) -> Result<()> {
        for (p, t) in &self.0 {
            p.set(t)?;
        }
        Ok(())
    }
}
