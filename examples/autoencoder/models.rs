//! The autoencoder example's model and losses: one sigmoid hidden layer `h = σ(W x + b)` (the encoder),
//! a sigmoid output layer (the decoder), and the three ways of training it (plain, denoising, contractive).
//! `tests/autoencoder_training.rs` includes this file (`#[path]`), so it tests exactly these functions.

use wgrad::nn::{binary_cross_entropy_with_logits, Forward, Linear, LinearConfig, Module};
use wgrad::{grad, DType, Device, Error, Result, Tensor};

/// Pixels of an MNIST digit.
pub const PIXELS: usize = 28 * 28;

/// `x → h = σ(W_e x + b_e) → x̂ = σ(W_d h + b_d)`, pixels in `[0, 1]`.
///
/// # Shapes
/// - input `[N, 784]` (or `[N, 1, 28, 28]`, flattened); code `[N, H]`; output `[N, 784]`
#[derive(Debug, Module)]
pub struct Autoencoder {
    pub encoder: Linear,
    pub decoder: Linear,
}

impl Autoencoder {
    pub fn new(hidden: usize, dev: &Device) -> Result<Self> {
        Ok(Autoencoder {
            encoder: LinearConfig::new(PIXELS, hidden).init(dev)?,
            decoder: LinearConfig::new(hidden, PIXELS).init(dev)?,
        })
    }

    /// Hidden units.
    pub fn hidden(&self) -> usize {
        self.encoder.weight.tensor().dims()[0]
    }

    /// The code `h = σ(W_e x + b_e)` of `x` `[..., 784]`.
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        self.encoder.forward(x)?.sigmoid()
    }

    /// The decoder's logits `W_d h + b_d` for the code `h`; `σ` of them is the reconstruction.
    pub fn decode_logits(&self, h: &Tensor) -> Result<Tensor> {
        self.decoder.forward(h)
    }

    /// The reconstruction's logits for `x` `[N, 784]` (or `[N, 1, 28, 28]`).
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.reshape([x.dims()[0], PIXELS])?;
        self.decode_logits(&self.encode(&x)?)
    }
}

/// The reconstruction `σ(logits)`, pixels in [0, 1].
impl Forward for Autoencoder {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.logits(x)?.sigmoid()
    }
}

/// How an autoencoder is trained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Reconstruct the input.
    Plain,
    /// Reconstruct the clean input from a corrupted one: `x + σ·ε`, `ε ~ N(0, 1)` from the device's random
    /// stream, clamped to `[0, 1]` (Vincent et al. 2008 use masking noise; Gaussian noise is as common).
    Denoising { sigma: f64 },
    /// Reconstruct the input, plus `λ·‖∂h/∂x‖²_F` averaged over the batch (Rifai et al. 2011): the code is
    /// pushed to change little when the input moves, except along the directions the data needs. `exact`:
    /// the whole Jacobian ([`jacobian_penalty`]); otherwise a one-probe estimate of its norm
    /// ([`jacobian_penalty_estimate`]), H times cheaper.
    Contractive { lambda: f64, exact: bool },
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Denoising { .. } => "denoising",
            Kind::Contractive { .. } => "contractive",
        }
    }
}

/// `x + σ·ε` clamped to `[0, 1]`, `ε` drawn on `x`'s device.
pub fn add_noise(x: &Tensor, sigma: f64) -> Result<Tensor> {
    let eps = Tensor::randn(x.shape().clone(), x.dtype(), x.device())?;
    x.add(&eps.mul(sigma)?)?.maximum(0.0)?.minimum(1.0)
}

/// The training loss of `kind` on the clean batch `x` `[N, 784]`: the reconstruction's cross-entropy with
/// the clean pixels as targets (`−x log x̂ − (1−x) log(1−x̂)`, mean over pixels; it trains a sigmoid output
/// much faster than squared error, whose gradient the sigmoid's slope shrinks), plus the contractive
/// penalty. The example reports squared error.
pub fn loss(model: &Autoencoder, kind: Kind, x: &Tensor) -> Result<Tensor> {
    let bce = binary_cross_entropy_with_logits;
    match kind {
        Kind::Plain => bce(&model.logits(x)?, x),
        Kind::Denoising { sigma } => bce(&model.logits(&add_noise(x, sigma)?)?, x),
        Kind::Contractive { lambda, exact } => {
            let reconstruction = bce(&model.logits(x)?, x)?;
            let penalty = if exact {
                jacobian_penalty(model, x)?
            } else {
                jacobian_penalty_estimate(model, x)?
            };
            reconstruction.add(&penalty.mean_all()?.mul(lambda)?)
        }
    }
}

/// `‖∂h/∂x‖²_F` for each sample of `x` `[N, 784]` (shape `[N]`), computed by autodiff, differentiably:
/// the result depends on the encoder's weights through a gradient, so training on it is double backward.
///
/// Row `j` of sample `n`'s Jacobian is the gradient of `h[n, j]` with respect to `x[n]`. All `H` rows come
/// from ONE [`wgrad::grad`] call: the batch is repeated `H` times (`[H, N, 784]`, a broadcast view), the
/// encoder runs on the copies, and copy `j` is seeded with the one-hot vector `e_j` on its code, so the
/// gradient with respect to the copies holds `∂h_j/∂x` in copy `j`. Summing the squares over copies and
/// pixels gives the squared Frobenius norm. It costs an encoder pass over `H·N` rows (the price of an
/// exact Jacobian by reverse mode); [`jacobian_penalty_closed_form`] is the shortcut for this encoder.
pub fn jacobian_penalty(model: &Autoencoder, x: &Tensor) -> Result<Tensor> {
    let (n, hidden) = (x.dims()[0], model.hidden());
    if x.dims() != [n, PIXELS] {
        return Err(Error::shape(
            "jacobian_penalty",
            format!("expected [n, {PIXELS}], got {}", x.shape()),
        ));
    }
    // x itself may be data (no gradient): the copies are the inputs we differentiate with respect to
    let x = if x.requires_grad() {
        x.clone()
    } else {
        // a leaf to differentiate with respect to (`with_grad` takes only leaves: realize, then detach)
        x.realize()?.detach().with_grad()?
    };
    let copies = x.unsqueeze(0)?.expand([hidden, n, PIXELS])?;
    let codes = model.encode(&copies)?; // [H, N, H]
    let seed = Tensor::arange(0.0, hidden as f64, 1.0, DType::I32, x.device())?
        .one_hot(hidden, x.dtype())? // [H, H]: row j is e_j
        .unsqueeze(1)?
        .expand([hidden, n, hidden])?;
    let rows = grad(&codes, &[&copies], Some(&seed))?
        .remove(0)
        .ok_or_else(|| Error::argument("jacobian_penalty", "the code does not depend on x"))?;
    rows.mul(&rows)?.sum(&[0, 2], false)
}

/// An unbiased estimate of `‖∂h/∂x‖²_F` per sample (shape `[N]`) from one vector-Jacobian product, also
/// by autodiff and differentiable: for a random sign vector `v` (Rademacher, `E[v vᵀ] = I`),
/// `E‖Jᵀv‖² = tr(J Jᵀ) = ‖J‖²_F` (Hutchinson's trace estimator). One [`wgrad::grad`] call seeded with `v`
/// gives `Jᵀv` for every sample at the cost of one backward pass, where the exact norm needs `H`; the
/// estimate's noise averages out over a batch and over steps.
pub fn jacobian_penalty_estimate(model: &Autoencoder, x: &Tensor) -> Result<Tensor> {
    let x = if x.requires_grad() {
        x.clone()
    } else {
        // a leaf to differentiate with respect to (`with_grad` takes only leaves: realize, then detach)
        x.realize()?.detach().with_grad()?
    };
    let code = model.encode(&x)?;
    let signs = Tensor::bernoulli(code.shape().clone(), 0.5, x.dtype(), x.device())?
        .mul(2.0)?
        .sub(1.0)?;
    let jtv = grad(&code, &[&x], Some(&signs))?.remove(0).ok_or_else(|| {
        Error::argument("jacobian_penalty_estimate", "the code does not depend on x")
    })?;
    jtv.mul(&jtv)?.sum(&[1], false)
}

/// The same penalty in closed form for `h = σ(W x + b)`: `∂h_j/∂x_i = h_j(1 − h_j) W_ji`, so
/// `‖J‖²_F = Σ_j (h_j(1 − h_j))² Σ_i W_ji²` (shape `[N]`).
pub fn jacobian_penalty_closed_form(model: &Autoencoder, x: &Tensor) -> Result<Tensor> {
    let h = model.encode(x)?;
    let slope = h.mul(&h.neg()?.add(1.0)?)?; // σ' = h(1 − h), [N, H]
    let w = model.encoder.weight.tensor(); // [H, 784]
    let row_norms = w.mul(&w)?.sum(&[1], false)?; // [H]
    slope.mul(&slope)?.mul(&row_norms)?.sum(&[1], false)
}
