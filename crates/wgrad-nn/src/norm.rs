//! Normalization layers: batch normalization over the channel axis (with running statistics) and layer
//! normalization over the trailing dims.

use serde::{Deserialize, Serialize};
use wgrad_graph::{no_grad, DType, Device, Error, Result, Tensor};

use crate::init;
use crate::module::Forward;
use crate::param::Param;
use crate::Module;

/// Configuration of a [`BatchNorm`]. `momentum` weighs the new batch in the running statistics
/// (`r ← (1-m)·r + m·batch`, PyTorch's convention), `eps` is added to the variance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNormConfig {
    pub num_features: usize,
    pub eps: f64,
    pub momentum: f64,
    /// Parameter and statistics dtype (f32; f64 and f16 where the backend computes them).
    #[serde(default = "init::default_dtype")]
    pub dtype: DType,
}

impl BatchNormConfig {
    /// ε = 1e-5, momentum 0.1 (PyTorch's defaults).
    pub fn new(num_features: usize) -> Self {
        BatchNormConfig {
            num_features,
            eps: 1e-5,
            momentum: 0.1,
            dtype: DType::F32,
        }
    }

    /// The same config with parameters and statistics of `dtype`.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// For `[n, c]` or `[n, c, l]` input (PyTorch's `BatchNorm1d`).
    pub fn init_1d(&self, device: &Device) -> Result<BatchNorm> {
        self.init(device, &[2, 3])
    }

    /// For `[n, c, h, w]` input (PyTorch's `BatchNorm2d`).
    pub fn init_2d(&self, device: &Device) -> Result<BatchNorm> {
        self.init(device, &[4])
    }

    fn init(&self, device: &Device, ranks: &'static [usize]) -> Result<BatchNorm> {
        let c = self.num_features;
        let f = |v: f64| Tensor::full([c], v, self.dtype, device);
        Ok(BatchNorm {
            weight: Param::trainable("weight", f(1.0))?,
            bias: Param::trainable("bias", f(0.0))?,
            running_mean: Param::buffer("running_mean", f(0.0))?,
            running_var: Param::buffer("running_var", f(1.0))?,
            num_batches_tracked: Param::counter(
                "num_batches_tracked",
                Tensor::zeros([], DType::I32, device),
            )?,
            eps: self.eps,
            momentum: self.momentum,
            ranks,
            training: true,
        })
    }
}

/// `γ·x̂ + β` with `x̂ = (x - μ)/√(σ² + ε)`. In training μ and σ² are the batch's (biased variance) and the
/// running statistics move toward them (the running variance takes the unbiased batch variance, as in
/// PyTorch); in evaluation the running statistics are used. The running statistics are buffers whose new
/// values stay pending until the optimizer's step realizes them with everything else.
///
/// `num_batches_tracked` counts training-mode forward passes, as PyTorch's buffer of that name does. wgrad
/// has no `int64`, so it is an `i32` [`Param::counter`], written to checkpoints as `int64`: the state dict
/// has PyTorch's keys and dtypes, and `load_state_dict(strict=True)` accepts it. (With a fixed momentum
/// PyTorch only counts; the count matters only for `momentum=None`, a cumulative average wgrad does not
/// offer.)
///
/// # Shapes
/// - 1d: input `[n, c]` or `[n, c, l]`; 2d: input `[n, c, h, w]`
/// - output: the input's shape
#[derive(Clone, Debug, Module)]
pub struct BatchNorm {
    pub weight: Param,
    pub bias: Param,
    pub running_mean: Param,
    pub running_var: Param,
    pub num_batches_tracked: Param,
    #[module(skip)]
    eps: f64,
    #[module(skip)]
    momentum: f64,
    #[module(skip)]
    ranks: &'static [usize],
    #[module(training)]
    training: bool,
}

/// `BatchNorm` over `[n, c]` / `[n, c, l]`.
pub type BatchNorm1d = BatchNorm;
/// `BatchNorm` over `[n, c, h, w]`.
pub type BatchNorm2d = BatchNorm;

impl BatchNorm {
    /// # Errors
    /// `Error::Shape` when `x` does not have the layer's rank and channel count, or, in training, holds one
    /// value per channel (`[1, c]`, `[1, c, 1, 1]`): its batch variance is 0 and the output would be `β`
    /// whatever the input, so PyTorch refuses it ("Expected more than 1 value per channel when training").
    fn check(&self, x: &Tensor) -> Result<()> {
        let c = self.weight.numel();
        if !self.ranks.contains(&x.rank()) || x.dims()[1] != c {
            return Err(Error::shape(
                "batch_norm",
                format!(
                    "input {} does not fit {c} features (rank {:?}, channels on axis 1)",
                    x.shape(),
                    self.ranks
                ),
            ));
        }
        let per_channel: usize = x.dims()[0] * x.dims()[2..].iter().product::<usize>();
        if self.training && per_channel == 1 {
            return Err(Error::shape(
                "batch_norm",
                format!(
                    "expected more than 1 value per channel when training, got input {}",
                    x.shape()
                ),
            ));
        }
        Ok(())
    }

    /// Batch mean and biased variance (both keepdim), and updates the running statistics.
    fn batch_stats(&self, x: &Tensor, axes: &[isize]) -> Result<(Tensor, Tensor)> {
        let mean = x.mean(axes, true)?;
        let centered = x.sub(&mean)?;
        let var = centered.mul(&centered)?.mean(axes, true)?;
        let n = x.numel() / self.weight.numel();
        let m = self.momentum;
        no_grad(|| -> Result<()> {
            let c = [self.weight.numel()];
            let bm = mean.detach().reshape(c)?;
            let unbiased = var
                .detach()
                .reshape(c)?
                .mul(n as f64 / (n.max(2) - 1) as f64)?;
            let rm = self.running_mean.tensor().mul(1.0 - m)?.add(&bm.mul(m)?)?;
            let rv = self
                .running_var
                .tensor()
                .mul(1.0 - m)?
                .add(&unbiased.mul(m)?)?;
            self.running_mean.set_pending(rm);
            self.running_var.set_pending(rv);
            let count = self.num_batches_tracked.tensor().add(1)?;
            self.num_batches_tracked.set_pending(count);
            Ok(())
        })?;
        Ok((mean, var))
    }
}

impl Forward for BatchNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.check(x)?;
        let axes: Vec<isize> = (0..x.rank() as isize).filter(|&a| a != 1).collect();
        let mut bshape = vec![1; x.rank()];
        bshape[1] = self.weight.numel();
        let (mean, var) = if self.training {
            self.batch_stats(x, &axes)?
        } else {
            (
                self.running_mean.tensor().reshape(bshape.clone())?,
                self.running_var.tensor().reshape(bshape.clone())?,
            )
        };
        let xhat = x.sub(&mean)?.mul(&var.add(self.eps)?.rsqrt()?)?;
        let g = self.weight.tensor().reshape(bshape.clone())?;
        let b = self.bias.tensor().reshape(bshape)?;
        xhat.mul(&g)?.add(&b)
    }
}

/// Configuration of a [`LayerNorm`] (PyTorch's `nn.LayerNorm(normalized_shape, eps=1e-5,
/// elementwise_affine=True, bias=True)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerNormConfig {
    /// The trailing dims normalized over (and the shape of `weight` and `bias`).
    pub normalized_shape: Vec<usize>,
    pub eps: f64,
    /// Whether there is a learned `weight` (initialized to ones) and, with `bias`, a `bias` (zeros).
    pub elementwise_affine: bool,
    pub bias: bool,
    /// Parameter dtype (f32; f64 and f16 where the backend computes them).
    #[serde(default = "init::default_dtype")]
    pub dtype: DType,
}

impl LayerNormConfig {
    /// ε = 1e-5, learned weight and bias (PyTorch's defaults).
    pub fn new(normalized_shape: impl Into<Vec<usize>>) -> Self {
        LayerNormConfig {
            normalized_shape: normalized_shape.into(),
            eps: 1e-5,
            elementwise_affine: true,
            bias: true,
            dtype: DType::F32,
        }
    }

    /// The same config without `weight` and `bias` (PyTorch's `elementwise_affine=False`).
    pub fn without_affine(mut self) -> Self {
        self.elementwise_affine = false;
        self
    }

    /// The same config without `bias` (PyTorch's `bias=False`).
    pub fn without_bias(mut self) -> Self {
        self.bias = false;
        self
    }

    /// The same config with `eps`.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// The same config with parameters of `dtype`.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// A layer with `weight = 1`, `bias = 0` (PyTorch's init).
    ///
    /// # Errors
    /// `Error::Argument` for an empty `normalized_shape` or one with a zero.
    pub fn init(&self, device: &Device) -> Result<LayerNorm> {
        let shape = &self.normalized_shape;
        if shape.is_empty() || shape.contains(&0) {
            return Err(Error::argument(
                "layer_norm",
                format!("normalized_shape must be non-empty without zeros, got {shape:?}"),
            ));
        }
        let f = |v: f64| Tensor::full(shape.clone(), v, self.dtype, device);
        let affine = self.elementwise_affine;
        Ok(LayerNorm {
            weight: affine
                .then(|| Param::trainable("weight", f(1.0)))
                .transpose()?,
            bias: (affine && self.bias)
                .then(|| Param::trainable("bias", f(0.0)))
                .transpose()?,
            normalized_shape: shape.clone(),
            eps: self.eps,
        })
    }
}

/// Layer normalization: `γ·x̂ + β` with `x̂ = (x - μ)/√(σ² + ε)`, μ and σ² (biased) taken over the trailing
/// `normalized_shape` dims of each sample (Ba, Kiros & Hinton 2016; PyTorch's `nn.LayerNorm`). The same in
/// training and evaluation: no running statistics.
///
/// # Shapes
/// - input `[..., *normalized_shape]`; output: the input's shape
/// - `weight`, `bias`: `normalized_shape`
#[derive(Clone, Debug, Module)]
pub struct LayerNorm {
    pub weight: Option<Param>,
    pub bias: Option<Param>,
    #[module(skip)]
    normalized_shape: Vec<usize>,
    #[module(skip)]
    eps: f64,
}

impl LayerNorm {
    pub fn normalized_shape(&self) -> &[usize] {
        &self.normalized_shape
    }

    pub fn eps(&self) -> f64 {
        self.eps
    }
}

impl Forward for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.weight.as_ref().map(Param::tensor);
        let b = self.bias.as_ref().map(Param::tensor);
        layer_norm(x, &self.normalized_shape, w.as_ref(), b.as_ref(), self.eps)
    }
}

/// Functional layer normalization over the trailing `normalized_shape` dims of `x` (PyTorch's
/// `F.layer_norm`): `(x - μ)/√(σ² + ε)·weight + bias`, σ² biased. f16 and bf16 inputs are normalized (and
/// scaled) in f32 and rounded back once, as PyTorch does.
///
/// # Shapes
/// - `x` `[..., *normalized_shape]`, `weight` and `bias` `normalized_shape`; output: `x`'s shape
///
/// # Errors
/// `Error::Shape` when `x` does not end in `normalized_shape` (or `normalized_shape` is empty), or
/// `weight` or `bias` is not of `normalized_shape`.
pub fn layer_norm(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let k = normalized_shape.len();
    if k == 0 || x.rank() < k || x.dims()[x.rank() - k..] != *normalized_shape {
        return Err(Error::shape(
            "layer_norm",
            format!(
                "input {} does not end in normalized_shape {normalized_shape:?}",
                x.shape()
            ),
        ));
    }
    for (what, t) in [("weight", weight), ("bias", bias)] {
        if let Some(t) = t.filter(|t| t.dims() != normalized_shape) {
            return Err(Error::shape(
                "layer_norm",
                format!(
                    "{what} {} is not of normalized_shape {normalized_shape:?}",
                    t.shape()
                ),
            ));
        }
    }
    let axes: Vec<isize> = (x.rank() - k..x.rank()).map(|a| a as isize).collect();
    let wide = x.widened()?;
    let centered = wide.sub(&wide.mean(&axes, true)?)?;
    let var = centered.mul(&centered)?.mean(&axes, true)?;
    let mut y = centered.mul(&var.add(eps)?.rsqrt()?)?;
    if let Some(w) = weight {
        y = y.mul(&w.cast(y.dtype())?)?;
    }
    if let Some(b) = bias {
        y = y.add(&b.cast(y.dtype())?)?;
    }
    y.cast(x.dtype())
}
