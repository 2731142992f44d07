//! 2-D convolution layer (cross-correlation, like PyTorch's `Conv2d`).

use serde::{Deserialize, Serialize};
use wgrad_graph::{Conv2dParams, DType, Device, Error, Result, Tensor};

use crate::init;
use crate::module::Forward;
use crate::param::Param;
use crate::Module;

/// Configuration of a [`Conv2d`] layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2dConfig {
    pub c_in: usize,
    pub c_out: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
    pub bias: bool,
    /// Parameter dtype (f32; f64 and f16 where the backend computes them).
    #[serde(default = "init::default_dtype")]
    pub dtype: DType,
}

impl Conv2dConfig {
    /// A square `k×k` convolution with stride 1, no padding, a bias.
    pub fn new(c_in: usize, c_out: usize, k: usize) -> Self {
        Conv2dConfig {
            c_in,
            c_out,
            kernel: [k, k],
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            bias: true,
            dtype: DType::F32,
        }
    }

    /// The same config without a bias (before a batch norm, which would cancel it).
    pub fn without_bias(mut self) -> Self {
        self.bias = false;
        self
    }

    /// The same config with parameters of `dtype`.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// The same config with `padding` on both spatial axes.
    pub fn with_padding(mut self, p: usize) -> Self {
        self.padding = [p, p];
        self
    }

    /// The same config with `stride` on both spatial axes.
    pub fn with_stride(mut self, s: usize) -> Self {
        self.stride = [s, s];
        self
    }

    /// Weights with PyTorch's default init.
    pub fn init(&self, device: &Device) -> Result<Conv2d> {
        if self.groups == 0
            || !self.c_in.is_multiple_of(self.groups)
            || !self.c_out.is_multiple_of(self.groups)
        {
            return Err(Error::argument(
                "conv2d",
                format!(
                    "groups {} must divide c_in {} and c_out {}",
                    self.groups, self.c_in, self.c_out
                ),
            ));
        }
        let cpg = self.c_in / self.groups;
        let shape = [self.c_out, cpg, self.kernel[0], self.kernel[1]];
        let w = init::torch_default_weight(shape, self.dtype, device)?;
        let fan_in = cpg * self.kernel[0] * self.kernel[1];
        let b = if self.bias {
            Some(init::torch_default_bias(
                self.c_out, fan_in, self.dtype, device,
            )?)
        } else {
            None
        };
        Ok(Conv2d {
            weight: Param::trainable("weight", w)?,
            bias: b.map(|b| Param::trainable("bias", b)).transpose()?,
            params: Conv2dParams {
                stride: self.stride,
                padding: self.padding,
                dilation: self.dilation,
                groups: self.groups,
            },
        })
    }
}

/// A 2-D convolution. Weight `[c_out, c_in/groups, kh, kw]`, bias `[c_out]`.
///
/// # Shapes
/// - input `[n, c_in, h, w]`
/// - output `[n, c_out, h_out, w_out]`, `h_out = ⌊(h + 2p - d(k-1) - 1)/s⌋ + 1`
#[derive(Clone, Debug, Module)]
pub struct Conv2d {
    pub weight: Param,
    pub bias: Option<Param>,
    #[module(skip)]
    pub params: Conv2dParams,
}

impl Forward for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = self.bias.as_ref().map(|b| b.tensor());
        x.conv2d(&self.weight.tensor(), b.as_ref(), self.params)
    }
}
