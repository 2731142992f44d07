//! Pooling layers and `Flatten`: parameter-free reshaping of feature maps.

use serde::{Deserialize, Serialize};
use wgrad_graph::{Result, Tensor};

use crate::module::Forward;
use crate::Module;

/// Configuration shared by [`MaxPool2d`] and [`AvgPool2d`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool2dConfig {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Pool2dConfig {
    /// A `k×k` window with stride `k` (PyTorch's default stride), no padding.
    pub fn new(k: usize) -> Self {
        Pool2dConfig {
            kernel: [k, k],
            stride: [k, k],
            padding: [0, 0],
        }
    }

    pub fn init_max(&self) -> MaxPool2d {
        MaxPool2d { config: *self }
    }

    pub fn init_avg(&self) -> AvgPool2d {
        AvgPool2d { config: *self }
    }
}

/// Max pooling (padding counts as -∞).
///
/// # Shapes
/// - input `[n, c, h, w]`
/// - output `[n, c, ⌊(h + 2p - k)/s⌋ + 1, …]`
#[derive(Clone, Copy, Debug, Module)]
pub struct MaxPool2d {
    #[module(skip)]
    pub config: Pool2dConfig,
}

impl MaxPool2d {
    /// `k×k` window, stride `k`.
    pub fn new(k: usize) -> Self {
        Pool2dConfig::new(k).init_max()
    }
}

impl Forward for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = self.config;
        x.max_pool2d(c.kernel, c.stride, c.padding)
    }
}

/// Average pooling (padding counts as zeros; divisor always `kh·kw`).
///
/// # Shapes
/// As [`MaxPool2d`].
#[derive(Clone, Copy, Debug, Module)]
pub struct AvgPool2d {
    #[module(skip)]
    pub config: Pool2dConfig,
}

impl AvgPool2d {
    /// `k×k` window, stride `k`.
    pub fn new(k: usize) -> Self {
        Pool2dConfig::new(k).init_avg()
    }
}

impl Forward for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = self.config;
        x.avg_pool2d(c.kernel, c.stride, c.padding)
    }
}

/// Merges every axis after the batch axis: the bridge from convolutions to linear layers.
///
/// # Shapes
/// - input `[n, d1, d2, …]`
/// - output `[n, d1·d2·…]`
#[derive(Clone, Copy, Debug, Default, Module)]
pub struct Flatten;

impl Forward for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.flatten(1)
    }
}
