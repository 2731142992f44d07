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
    /// `p` must be in `[0, 1]` (`p = 1` drops everything). Starts in training mode, like every PyTorch
    /// module.
    ///
    /// # Errors
    /// `Error::Argument` for `p` outside `[0, 1]` (or NaN), as PyTorch refuses it.
    pub fn new(p: f64) -> Result<Dropout> {
        check_p(p)?;
        Ok(Dropout { p, training: true })
    }

    pub fn p(&self) -> f64 {
        self.p
    }
}

fn check_p(p: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::argument(
            "dropout",
            format!("dropout probability has to be between 0 and 1, but got {p}"),
        ));
    }
    Ok(())
}

/// Functional dropout: `x·mask/(1-p)` with `mask ~ Bernoulli(1-p)` when `training`, else `x`. With `p = 1`
/// the result is `x·0` (zeros, NaN where `x` is infinite or NaN), as PyTorch computes it, not `0·∞`.
///
/// # Errors
/// `Error::Argument` for `p` outside `[0, 1]`.
pub fn dropout(x: &Tensor, p: f64, training: bool) -> Result<Tensor> {
    check_p(p)?;
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    if p == 1.0 {
        return x.mul(x.zeros_like());
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
