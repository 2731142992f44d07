//! The VAE example's model and loss. `tests/vae_training.rs` includes this file (`#[path]`).
//!
//! Encoder `q(z|x) = N(μ(x), diag σ²(x))`: `784 → hidden (ReLU) → (μ, log σ²)`, latent size d.
//! Decoder `p(x|z)`: `d → hidden (ReLU) → 784` logits of independent Bernoulli pixels (grey levels in
//! [0, 1] as soft targets, the usual treatment of MNIST). Prior `p(z) = N(0, I)`.

use wgrad::nn::{binary_cross_entropy_with_logits, Forward, Linear, LinearConfig, Module};
use wgrad::{Device, Result, Tensor};

/// Pixels of an MNIST digit.
pub const PIXELS: usize = 28 * 28;

/// # Shapes
/// - input `[N, 784]` pixels in [0, 1]; latent `[N, d]`; decoder output `[N, 784]` logits
#[derive(Debug, Module)]
pub struct Vae {
    enc: Linear,
    mu: Linear,
    logvar: Linear,
    dec: Linear,
    out: Linear,
}

/// One pass: the posterior's parameters and the decoder's logits for a sample of it.
#[derive(Debug)]
pub struct Pass {
    pub mu: Tensor,
    pub logvar: Tensor,
    pub logits: Tensor,
}

/// The negative ELBO of a batch and its two parts, each a mean over the batch (nats per digit).
#[derive(Debug)]
pub struct Loss {
    /// `reconstruction + kl`: what training minimizes; the ELBO is its negative.
    pub total: Tensor,
    /// `−E_q[log p(x|z)]`, estimated with one sample of z.
    pub reconstruction: Tensor,
    /// `KL(q(z|x) ‖ p(z))`, in closed form.
    pub kl: Tensor,
}

impl Vae {
    pub fn new(hidden: usize, latent: usize, dev: &Device) -> Result<Self> {
        Ok(Vae {
            enc: LinearConfig::new(PIXELS, hidden).init(dev)?,
            mu: LinearConfig::new(hidden, latent).init(dev)?,
            logvar: LinearConfig::new(hidden, latent).init(dev)?,
            dec: LinearConfig::new(latent, hidden).init(dev)?,
            out: LinearConfig::new(hidden, PIXELS).init(dev)?,
        })
    }

    /// `(μ, log σ²)` of `q(z|x)`, each `[N, d]`.
    pub fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.enc.forward(x)?.relu()?;
        Ok((self.mu.forward(&h)?, self.logvar.forward(&h)?))
    }

    /// Pixel logits `[N, 784]` for codes `z` `[N, d]`.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        self.out.forward(&self.dec.forward(z)?.relu()?)
    }

    /// Pixel means `σ(logits)` in [0, 1]: what pictures show.
    pub fn decode_mean(&self, z: &Tensor) -> Result<Tensor> {
        self.decode(z)?.sigmoid()
    }

    /// Encodes `x`, draws `z = μ + σ ⊙ ε` with `ε ~ N(0, I)` from the device's random stream (the
    /// reparameterization trick: the randomness is an input, so gradients reach μ and σ), and decodes it.
    pub fn pass(&self, x: &Tensor) -> Result<Pass> {
        let (mu, logvar) = self.encode(x)?;
        let eps = Tensor::randn(mu.shape().clone(), mu.dtype(), mu.device())?;
        let z = mu.add(&logvar.mul(0.5)?.exp()?.mul(&eps)?)?;
        Ok(Pass {
            logits: self.decode(&z)?,
            mu,
            logvar,
        })
    }

    /// The negative ELBO of `x` `[N, 784]` and its parts.
    pub fn loss(&self, x: &Tensor) -> Result<Loss> {
        let p = self.pass(x)?;
        // the library's BCE is a mean over all N·784 elements; ×784 makes it a sum over pixels per digit
        let reconstruction = binary_cross_entropy_with_logits(&p.logits, x)?.mul(PIXELS as f64)?;
        let kl = kl_divergence(&p.mu, &p.logvar)?.mean_all()?;
        Ok(Loss {
            total: reconstruction.add(&kl)?,
            reconstruction,
            kl,
        })
    }
}

/// `KL(N(μ, diag e^{log σ²}) ‖ N(0, I))` per sample, in closed form:
/// `½ Σ_k (μ_k² + σ_k² − log σ_k² − 1)` (shape `[N]`). Never negative.
pub fn kl_divergence(mu: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    mu.mul(mu)?
        .add(&logvar.exp()?)?
        .sub(logvar)?
        .sub(1.0)?
        .sum(&[1], false)?
        .mul(0.5)
}
