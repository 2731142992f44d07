//! 2-D convolution layers: `Conv2d` (cross-correlation, like PyTorch's) and `ConvTranspose2d`.

use serde::{Deserialize, Serialize};
use wgrad_graph::{Conv2dParams, ConvTranspose2dParams, DType, Device, Error, Result, Tensor};

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

/// Configuration of a [`ConvTranspose2d`] layer (PyTorch's `nn.ConvTranspose2d(in_channels, out_channels,
/// kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True, dilation=1)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvTranspose2dConfig {
    pub c_in: usize,
    pub c_out: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub output_padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
    pub bias: bool,
    /// Parameter dtype (f32; f64 and f16 where the backend computes them).
    #[serde(default = "init::default_dtype")]
    pub dtype: DType,
}

impl ConvTranspose2dConfig {
    /// A square `k×k` transposed convolution with stride 1, no padding, a bias.
    pub fn new(c_in: usize, c_out: usize, k: usize) -> Self {
        ConvTranspose2dConfig {
            c_in,
            c_out,
            kernel: [k, k],
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            bias: true,
            dtype: DType::F32,
        }
    }

    /// The same config without a bias.
    pub fn without_bias(mut self) -> Self {
        self.bias = false;
        self
    }

    /// The same config with parameters of `dtype`.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// The same config with `stride` on both spatial axes.
    pub fn with_stride(mut self, s: usize) -> Self {
        self.stride = [s, s];
        self
    }

    /// The same config with `padding` on both spatial axes.
    pub fn with_padding(mut self, p: usize) -> Self {
        self.padding = [p, p];
        self
    }

    /// The same config with `output_padding` on both spatial axes.
    pub fn with_output_padding(mut self, p: usize) -> Self {
        self.output_padding = [p, p];
        self
    }

    /// The op's parameters.
    pub fn params(&self) -> ConvTranspose2dParams {
        ConvTranspose2dParams {
            stride: self.stride,
            padding: self.padding,
            output_padding: self.output_padding,
            dilation: self.dilation,
            groups: self.groups,
        }
    }

    /// Weights with PyTorch's default init: `kaiming_uniform(a = √5)` and a uniform bias, both with PyTorch's
    /// `fan_in` of the weight `[c_in, c_out/groups, kh, kw]`, which is `c_out/groups·kh·kw` (its dim 1).
    ///
    /// # Errors
    /// `Error::Argument` when `groups` does not divide `c_in` and `c_out`, or `output_padding` is not
    /// smaller than the stride or the dilation.
    pub fn init(&self, device: &Device) -> Result<ConvTranspose2d> {
        let g = self.groups;
        if g == 0 || !self.c_in.is_multiple_of(g) || !self.c_out.is_multiple_of(g) {
            return Err(Error::argument(
                "conv_transpose2d",
                format!(
                    "groups {g} must divide c_in {} and c_out {}",
                    self.c_in, self.c_out
                ),
            ));
        }
        let p = self.params();
        if (0..2).any(|a| p.output_padding[a] >= p.stride[a].max(p.dilation[a])) {
            return Err(Error::argument(
                "conv_transpose2d",
                format!(
                    "output padding must be smaller than either stride or dilation, got output_padding {:?}, stride {:?}, dilation {:?}",
                    p.output_padding, p.stride, p.dilation
                ),
            ));
        }
        let shape = [self.c_in, self.c_out / g, self.kernel[0], self.kernel[1]];
        let w = init::torch_default_weight(shape, self.dtype, device)?;
        let fan_in = self.c_out / g * self.kernel[0] * self.kernel[1];
        let b = self
            .bias
            .then(|| init::torch_default_bias(self.c_out, fan_in, self.dtype, device))
            .transpose()?;
        Ok(ConvTranspose2d {
            weight: Param::trainable("weight", w)?,
            bias: b.map(|b| Param::trainable("bias", b)).transpose()?,
            params: p,
        })
    }
}

/// A transposed 2-D convolution (the gradient of a convolution with respect to its input; "deconvolution"
/// in decoders and GAN generators). Weight `[c_in, c_out/groups, kh, kw]` (PyTorch's layout), bias
/// `[c_out]`.
///
/// # Shapes
/// - input `[n, c_in, h, w]`
/// - output `[n, c_out, h_out, w_out]`, `h_out = (h - 1)·s - 2p + d·(k - 1) + output_padding + 1`
#[derive(Clone, Debug, Module)]
pub struct ConvTranspose2d {
    pub weight: Param,
    pub bias: Option<Param>,
    #[module(skip)]
    pub params: ConvTranspose2dParams,
}

impl Forward for ConvTranspose2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = self.bias.as_ref().map(|b| b.tensor());
        x.conv_transpose2d(&self.weight.tensor(), b.as_ref(), self.params)
    }
}
