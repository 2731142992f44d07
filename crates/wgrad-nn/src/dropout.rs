//! Inverted dropout: of elements (`Dropout`) and of whole channels (`Dropout2d`).

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

/// Zeroes whole channels: each `(sample, channel)` plane of `[n, c, h, w]` input is dropped with
/// probability `p` in training and the rest scaled by `1/(1-p)` (PyTorch's `nn.Dropout2d`, Tompson et al.
/// 2015: neighbouring activations of a feature map are correlated, so dropping single pixels barely
/// regularizes). Evaluation is the identity.
///
/// # Shapes
/// - input `[n, c, h, w]`, or `[n, c, l]` (PyTorch's current reading of 3-D input: channel-wise 1-D
///   dropout); output: the same
#[derive(Clone, Copy, Debug, Module)]
pub struct Dropout2d {
    #[module(skip)]
    p: f64,
    #[module(training)]
    training: bool,
}

impl Dropout2d {
    /// `p` must be in `[0, 1]`. Starts in training mode.
    ///
    /// # Errors
    /// `Error::Argument` for `p` outside `[0, 1]` (or NaN).
    pub fn new(p: f64) -> Result<Dropout2d> {
        check_p(p)?;
        Ok(Dropout2d { p, training: true })
    }

    pub fn p(&self) -> f64 {
        self.p
    }
}

/// Functional channel dropout (PyTorch's `F.dropout2d`): `x·mask/(1-p)` with one `Bernoulli(1-p)` draw per
/// `(sample, channel)`, broadcast over the spatial dims, when `training`; else `x`.
///
/// # Errors
/// `Error::Argument` for `p` outside `[0, 1]`; `Error::Shape` when `x` is not 3-D or 4-D.
pub fn dropout2d(x: &Tensor, p: f64, training: bool) -> Result<Tensor> {
    check_p(p)?;
    if !matches!(x.rank(), 3 | 4) {
        return Err(Error::shape(
            "dropout2d",
            format!("needs [n, c, h, w] (or [n, c, l]) input, got {}", x.shape()),
        ));
    }
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    if p == 1.0 {
        return x.mul(x.zeros_like());
    }
    let keep = 1.0 - p;
    let mut mask_shape = vec![1; x.rank()];
    mask_shape[..2].copy_from_slice(&x.dims()[..2]);
    let mask = Tensor::bernoulli(mask_shape, keep, x.dtype(), x.device())?;
    x.mul(&mask.mul(1.0 / keep)?)
}

impl Forward for Dropout2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        dropout2d(x, self.p, self.training)
    }
}
