//! Inverted dropout.

use wgrad_graph::{Error, Result, Tensor};

use crate::module::Forward;
use crate::Module;

/// Zeroes each element with probability `p` in training and scales the rest by `1/(1-p)`, so evaluation is
/// the identity and needs no rescaling (inverted dropout, as PyTorch does). The mask comes from the device's
/// Philox stream, so a seeded run drops the same units on every backend.
///
/// # Shapes
/// - input: any; output: the same
#[derive(Clone, Copy, Debug, Module)]
pub struct Dropout {
    #[module(skip)]
    p: f64,
    #[module(training)]
    training: bool,
}

impl Dropout {
    /// `p` must be in `[0, 1)`. Starts in training mode, like every PyTorch module.
    pub fn new(p: f64) -> Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::argument(
                "dropout",
                format!("p = {p} is not in [0, 1)"),
            ));
        }
        Ok(Dropout { p, training: true })
    }

    pub fn p(&self) -> f64 {
        self.p
    }
}

/// Functional dropout: `x·mask/(1-p)` with `mask ~ Bernoulli(1-p)` when `training`, else `x`.
pub fn dropout(x: &Tensor, p: f64, training: bool) -> Result<Tensor> {
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    let keep = 1.0 - p;
    let mask = Tensor::bernoulli(x.shape().clone(), keep, x.dtype(), x.device())?;
    x.mul(&mask.mul(1.0 / keep)?)
}

impl Forward for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        dropout(x, self.p, self.training)
    }
}
