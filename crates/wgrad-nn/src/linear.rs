//! Fully connected layer `y = x·Wᵀ + b`.

use serde::{Deserialize, Serialize};
use wgrad_graph::{DType, Device, Error, Result, Tensor};

use crate::init;
use crate::module::Forward;
use crate::param::Param;
use crate::Module;

/// Configuration of a [`Linear`] layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearConfig {
    pub d_in: usize,
    pub d_out: usize,
    pub bias: bool,
    /// Parameter dtype (f32; f64 and f16 where the backend computes them).
    #[serde(default = "init::default_dtype")]
    pub dtype: DType,
}

impl LinearConfig {
    /// A layer with a bias.
    pub fn new(d_in: usize, d_out: usize) -> Self {
        LinearConfig {
            d_in,
            d_out,
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

    /// Weights with PyTorch's default init ([`init::torch_default_weight`]).
    pub fn init(&self, device: &Device) -> Result<Linear> {
        let w = init::torch_default_weight([self.d_out, self.d_in], self.dtype, device)?;
        let b = if self.bias {
            Some(init::torch_default_bias(
                self.d_out, self.d_in, self.dtype, device,
            )?)
        } else {
            None
        };
        Linear::from_tensors(w, b)
    }
}

/// A fully connected layer. The weight is `[d_out, d_in]` (PyTorch's layout, so checkpoints map one to one).
///
/// # Shapes
/// - input `[..., d_in]`
/// - output `[..., d_out]`
#[derive(Clone, Debug, Module)]
pub struct Linear {
    pub weight: Param,
    pub bias: Option<Param>,
}

impl Linear {
    /// A layer with the given weight `[d_out, d_in]` and optional bias `[d_out]` (for tests and imports).
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        if weight.rank() != 2 {
            return Err(Error::shape(
                "linear",
                format!("weight must be [d_out, d_in], got {}", weight.shape()),
            ));
        }
        if let Some(b) = &bias {
            if b.dims() != [weight.dims()[0]] {
                return Err(Error::shape(
                    "linear",
                    format!(
                        "bias {} does not match weight {}",
                        b.shape(),
                        weight.shape()
                    ),
                ));
            }
        }
        Ok(Linear {
            weight: Param::trainable("weight", weight)?,
            bias: bias.map(|b| Param::trainable("bias", b)).transpose()?,
        })
    }
}

impl Forward for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight.tensor().t()?)?;
        match &self.bias {
            Some(b) => y.add(b.tensor()),
            None => Ok(y),
        }
    }
}
