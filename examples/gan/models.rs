//! The GAN example's networks and losses, DCGAN-style (Radford et al. 2016) and sized for a software
//! adapter. `tests/gan_training.rs` includes this file (`#[path]`).
//!
//! - Generator: `z [N, Z] → Linear → [N, 2c·7·7] → BatchNorm → ReLU → reshape [N, 2c, 7, 7]
//!   → ConvTranspose(2c→c, 4, stride 2, pad 1) → [N, c, 14, 14] → BatchNorm → ReLU
//!   → ConvTranspose(c→1, 4, stride 2, pad 1) → [N, 1, 28, 28] → tanh`, pixels in [-1, 1].
//! - Discriminator: `[N, 1, 28, 28] → Conv(1→d, 4, stride 2, pad 1) → LeakyReLU(0.2) → [N, d, 14, 14]
//!   → Conv(d→2d, 4, stride 2, pad 1) → LeakyReLU(0.2) → [N, 2d, 7, 7] → Linear → [N]` logit of "real".
//!
//! Strided convolutions instead of pooling, batch norm in the generator, ReLU in the generator and leaky
//! ReLU in the discriminator: the DCGAN guidelines. The weights keep PyTorch's default initialization
//! rather than DCGAN's N(0, 0.02): at these small widths (16 channels where DCGAN has 128 and more) that
//! init leaves the generator's output near tanh(0), a flat grey, for hundreds of steps.

use wgrad::nn::{
    binary_cross_entropy_with_logits, BatchNorm, BatchNormConfig, Conv2d, Conv2dConfig,
    ConvTranspose2d, ConvTranspose2dConfig, Forward, Linear, LinearConfig, Module,
};
use wgrad::{DType, Device, Result, Tensor};

/// Leaky ReLU slope of the discriminator (DCGAN's 0.2, not PyTorch's default 0.01).
pub const SLOPE: f64 = 0.2;

#[derive(Debug, Module)]
pub struct Generator {
    project: Linear,
    bn0: BatchNorm,
    up1: ConvTranspose2d,
    bn1: BatchNorm,
    up2: ConvTranspose2d,
    #[module(skip)]
    channels: usize,
}

impl Generator {
    /// `latent` noise dimensions; `channels` c (the first feature map has 2c).
    pub fn new(latent: usize, channels: usize, dev: &Device) -> Result<Self> {
        let c0 = 2 * channels;
        Ok(Generator {
            project: LinearConfig::new(latent, c0 * 49)
                .without_bias()
                .init(dev)?,
            bn0: BatchNormConfig::new(c0 * 49).init_1d(dev)?,
            up1: ConvTranspose2dConfig::new(c0, channels, 4)
                .with_stride(2)
                .with_padding(1)
                .without_bias()
                .init(dev)?,
            bn1: BatchNormConfig::new(channels).init_2d(dev)?,
            up2: ConvTranspose2dConfig::new(channels, 1, 4)
                .with_stride(2)
                .with_padding(1)
                .init(dev)?,
            channels,
        })
    }
}

impl Forward for Generator {
    /// Images `[N, 1, 28, 28]` in [-1, 1] from noise `[N, Z]`.
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let n = z.dims()[0];
        let h = self.bn0.forward(&self.project.forward(z)?)?.relu()?;
        let h = h.reshape([n, 2 * self.channels, 7, 7])?;
        let h = self.bn1.forward(&self.up1.forward(&h)?)?.relu()?;
        self.up2.forward(&h)?.tanh()
    }
}

#[derive(Debug, Module)]
pub struct Discriminator {
    conv1: Conv2d,
    conv2: Conv2d,
    head: Linear,
}

impl Discriminator {
    /// `channels` d (the second convolution has 2d).
    pub fn new(channels: usize, dev: &Device) -> Result<Self> {
        Ok(Discriminator {
            conv1: Conv2dConfig::new(1, channels, 4)
                .with_stride(2)
                .with_padding(1)
                .init(dev)?,
            conv2: Conv2dConfig::new(channels, 2 * channels, 4)
                .with_stride(2)
                .with_padding(1)
                .init(dev)?,
            head: LinearConfig::new(2 * channels * 49, 1).init(dev)?,
        })
    }
}

impl Forward for Discriminator {
    /// The logit of "real" for each image of `x` `[N, 1, 28, 28]`, shape `[N]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let lrelu = |t: Tensor| wgrad::nn::activation::leaky_relu(&t, SLOPE);
        let h = lrelu(self.conv1.forward(x)?)?;
        let h = lrelu(self.conv2.forward(&h)?)?;
        self.head.forward(&h.flatten(1)?)?.reshape([x.dims()[0]])
    }
}

/// Binary cross-entropy of `logits` against a constant label (1 real, 0 fake).
pub fn bce_to(logits: &Tensor, label: f64) -> Result<Tensor> {
    binary_cross_entropy_with_logits(logits, &logits.full_like(label))
}

/// The discriminator's loss: real digits labelled 1, generated ones 0 (the generator's output detached,
/// so this step does not reach the generator). Returns the loss and D's logits on real and fake.
pub fn discriminator_loss(
    d: &Discriminator,
    real: &Tensor,
    fake: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    let real_logits = d.forward(real)?;
    let fake_logits = d.forward(&fake.detach())?;
    let loss = bce_to(&real_logits, 1.0)?.add(&bce_to(&fake_logits, 0.0)?)?;
    Ok((loss, real_logits, fake_logits))
}

/// The non-saturating generator loss `−log D(G(z))` (Goodfellow et al. 2014): the generator's samples
/// labelled "real". Minimizing `log(1 − D(G(z)))` instead gives vanishing gradients while D wins easily,
/// which is early in training.
pub fn generator_loss(d: &Discriminator, fake: &Tensor) -> Result<Tensor> {
    bce_to(&d.forward(fake)?, 1.0)
}

/// Noise `[n, latent]` from the device's random stream.
pub fn noise(n: usize, latent: usize, dev: &Device) -> Result<Tensor> {
    Tensor::randn([n, latent], DType::F32, dev)
}
