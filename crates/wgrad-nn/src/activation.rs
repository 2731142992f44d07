//! Activation functions, as free functions and as one [`Activation`] module.
//!
//! Each is built from primitives, so its gradient comes from the primitives' rules. The branchy ones (leaky
//! ReLU, ELU) use `where` with both branches finite everywhere: `where` passes a zero gradient to the branch it
//! did not pick, but `0·∞` in that branch's own backward would still give NaN.

use serde::{Deserialize, Serialize};
use wgrad_graph::{Result, Tensor};

use crate::module::{Forward, Module};
use crate::param::Param;

/// `max(x, 0)`; ReLU'(0) = 0.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    x.relu()
}

/// `x` for `x > 0`, else `slope·x` (PyTorch's default slope is 0.01).
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    x.gt(0.0)?.where_(x, &x.mul(slope)?)
}

/// `x` for `x > 0`, else `α(eˣ - 1)`.
pub fn elu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    // exp(min(x, 0)) keeps the unused branch finite for large x.
    let neg = x.minimum(0.0)?.exp()?.sub(1.0)?.mul(alpha)?;
    x.gt(0.0)?.where_(x, &neg)
}

/// GELU, tanh approximation: `½x(1 + tanh(√(2/π)(x + 0.044715x³)))` (PyTorch `approximate="tanh"`; the
/// exact form needs erf, which is not a primitive; the two differ by < 1e-3).
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let x3 = x.mul(x)?.mul(x)?;
    let inner = x.add(&x3.mul(0.044715)?)?.mul(c)?;
    x.mul(&inner.tanh()?.add(1.0)?)?.mul(0.5)
}

pub fn tanh(x: &Tensor) -> Result<Tensor> {
    x.tanh()
}

pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    x.sigmoid()
}

/// `log(1 + eˣ)`, computed as `max(x, 0) + log(1 + e^-|x|)` so it neither overflows nor loses small values.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    let tail = x.abs()?.neg()?.exp()?.add(1.0)?.log()?;
    x.relu()?.add(&tail)
}

/// An activation as a layer, for [`crate::Sequential`].
///
/// # Shapes
/// - input: any; output: the same
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Activation {
    Relu,
    /// Negative slope (0.01 in [`Activation::leaky_relu`]).
    LeakyRelu(f64),
    /// α (1.0 in [`Activation::elu`]).
    Elu(f64),
    Gelu,
    Tanh,
    Sigmoid,
    Softplus,
}

impl Activation {
    /// Leaky ReLU with PyTorch's slope 0.01.
    pub fn leaky_relu() -> Self {
        Activation::LeakyRelu(0.01)
    }

    /// ELU with α = 1.
    pub fn elu() -> Self {
        Activation::Elu(1.0)
    }
}

/// No parameters and no training behaviour (an enum, so written out rather than derived).
impl Module for Activation {
    fn visit_params(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Param)) {}
    fn set_training(&mut self, _training: bool) {}
}

impl Forward for Activation {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match *self {
            Activation::Relu => relu(x),
            Activation::LeakyRelu(s) => leaky_relu(x, s),
            Activation::Elu(a) => elu(x, a),
            Activation::Gelu => gelu(x),
            Activation::Tanh => tanh(x),
            Activation::Sigmoid => sigmoid(x),
            Activation::Softplus => softplus(x),
        }
    }
}
