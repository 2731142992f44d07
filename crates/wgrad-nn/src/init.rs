//! Weight initializers: uniform, normal, Glorot/Xavier, He/Kaiming, and PyTorch's layer defaults.
//!
//! All draw from the device's Philox stream ([`wgrad_graph::Device::manual_seed`]), so a seeded model starts
//! from the same weights on every backend. They return lazy tensors; [`crate::Param::new`] realizes them.
//!
//! Fans follow PyTorch: for a weight `[out, in, k...]`, `fan_in = in·Πk` and `fan_out = out·Πk`.

use wgrad_graph::{DType, Device, Error, Result, Shape, Tensor};

/// Which fan Kaiming scales by: `FanIn` keeps the forward variance, `FanOut` the backward one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FanMode {
    #[default]
    FanIn,
    FanOut,
}

/// `(fan_in, fan_out)` of a weight of `shape`. Rank < 2 is an error: a vector has no agreed fan.
pub fn fans(shape: &Shape) -> Result<(usize, usize)> {
    let d = shape.dims();
    if d.len() < 2 {
        return Err(Error::shape(
            "init",
            format!("fan in/out needs rank >= 2, got {shape}"),
        ));
    }
    let receptive: usize = d[2..].iter().product();
    Ok((d[1] * receptive, d[0] * receptive))
}

/// `U(low, high)`.
pub fn uniform(
    shape: impl Into<Shape>,
    low: f64,
    high: f64,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    Tensor::rand(shape, dtype, device)?
        .mul(high - low)?
        .add(low)
}

/// `N(mean, std²)`.
pub fn normal(
    shape: impl Into<Shape>,
    mean: f64,
    std: f64,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    Tensor::randn(shape, dtype, device)?.mul(std)?.add(mean)
}

/// Glorot/Xavier uniform: `U(-b, b)`, `b = gain·√(6 / (fan_in + fan_out))`.
pub fn xavier_uniform(
    shape: impl Into<Shape>,
    gain: f64,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let shape = shape.into();
    let (fi, fo) = fans(&shape)?;
    let b = gain * (6.0 / (fi + fo) as f64).sqrt();
    uniform(shape, -b, b, dtype, device)
}

/// Glorot/Xavier normal: `N(0, σ²)`, `σ = gain·√(2 / (fan_in + fan_out))`.
pub fn xavier_normal(
    shape: impl Into<Shape>,
    gain: f64,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let shape = shape.into();
    let (fi, fo) = fans(&shape)?;
    normal(
        shape,
        0.0,
        gain * (2.0 / (fi + fo) as f64).sqrt(),
        dtype,
        device,
    )
}

/// The leaky-ReLU gain `√(2 / (1 + a²))` (a = 0: ReLU, He et al.).
pub fn leaky_relu_gain(a: f64) -> f64 {
    (2.0 / (1.0 + a * a)).sqrt()
}

fn chosen_fan(shape: &Shape, mode: FanMode) -> Result<usize> {
    let (fi, fo) = fans(shape)?;
    Ok(match mode {
        FanMode::FanIn => fi,
        FanMode::FanOut => fo,
    })
}

/// He/Kaiming uniform: `U(-b, b)`, `b = gain(a)·√(3 / fan)`.
pub fn kaiming_uniform(
    shape: impl Into<Shape>,
    a: f64,
    mode: FanMode,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let shape = shape.into();
    let fan = chosen_fan(&shape, mode)?;
    let b = leaky_relu_gain(a) * (3.0 / fan as f64).sqrt();
    uniform(shape, -b, b, dtype, device)
}

/// He/Kaiming normal: `N(0, σ²)`, `σ = gain(a) / √fan`.
pub fn kaiming_normal(
    shape: impl Into<Shape>,
    a: f64,
    mode: FanMode,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let shape = shape.into();
    let fan = chosen_fan(&shape, mode)?;
    normal(
        shape,
        0.0,
        leaky_relu_gain(a) / (fan as f64).sqrt(),
        dtype,
        device,
    )
}

/// PyTorch's default weight init for `Linear` and `Conv2d`: `kaiming_uniform(a = √5)`, which works out to
/// `U(-1/√fan_in, 1/√fan_in)`.
pub fn torch_default_weight(
    shape: impl Into<Shape>,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    kaiming_uniform(shape, 5f64.sqrt(), FanMode::FanIn, dtype, device)
}

/// PyTorch's default bias init: `U(-1/√fan_in, 1/√fan_in)` with the weight's `fan_in`.
pub fn torch_default_bias(
    len: usize,
    fan_in: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let b = if fan_in > 0 {
        1.0 / (fan_in as f64).sqrt()
    } else {
        0.0
    };
    uniform([len], -b, b, dtype, device)
}

/// f32: the dtype of a layer whose config does not say (serde default of the configs' `dtype` fields).
pub fn default_dtype() -> DType {
    DType::F32
}
