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

/// `x` for `x > 0`, else `α(eˣ - 1)`; the gradient at 0 is α (PyTorch's).
pub fn elu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    // the exponential sees only x ≤ 0 (through `where`, not `minimum`, whose tie at 0 would halve the
    // gradient), so the unused branch stays finite for large x
    let pos = x.gt(0.0)?;
    let neg = pos.where_(0.0, x)?.exp()?.sub(1.0)?.mul(alpha)?;
    pos.where_(x, &neg)
}

/// GELU, exact: `½x(1 + erf(x/√2))` (PyTorch's `gelu`, `nn.GELU()`; Hendrycks & Gimpel 2016).
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    let cdf = x.mul(std::f64::consts::FRAC_1_SQRT_2)?.erf()?.add(1.0)?;
    x.mul(&cdf)?.mul(0.5)
}

/// GELU, tanh approximation: `½x(1 + tanh(√(2/π)(x + 0.044715x³)))` (PyTorch's
/// `gelu(x, approximate="tanh")`); within 5e-4 of [`gelu`].
pub fn gelu_tanh(x: &Tensor) -> Result<Tensor> {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let x3 = x.mul(x)?.mul(x)?;
    let inner = x.add(&x3.mul(0.044715)?)?.mul(c)?;
    x.mul(&inner.tanh()?.add(1.0)?)?.mul(0.5)
}

/// Which GELU: PyTorch's `approximate` argument (`"none"`, the default, or `"tanh"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeluApprox {
    /// Exact, with erf ([`gelu`]).
    #[default]
    None,
    /// The tanh approximation ([`gelu_tanh`]).
    Tanh,
}

pub fn tanh(x: &Tensor) -> Result<Tensor> {
    x.tanh()
}

pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    x.sigmoid()
}

/// `log(1 + eˣ)`, as `x + log(1 + e⁻ˣ)` for `x > 0` and `log(1 + eˣ)` otherwise, so it never overflows; each
/// branch sees only its half of the inputs (through `where`, whose gradient at the split is the chosen
/// branch's: 0.5 at 0, PyTorch's sigmoid(0)), so the unused one stays finite.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    let pos = x.gt(0.0)?;
    let (xp, xn) = (pos.where_(x, 0.0)?, pos.where_(0.0, x)?);
    let upper = xp.add(&xp.neg()?.exp()?.add(1.0)?.log()?)?;
    let lower = xn.exp()?.add(1.0)?.log()?;
    pos.where_(&upper, &lower)
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
    /// GELU, exact or approximated ([`Activation::gelu`] is PyTorch's default `nn.GELU()`).
    Gelu {
        #[serde(default)]
        approximate: GeluApprox,
    },
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

    /// Exact GELU (PyTorch's `nn.GELU()`).
    pub fn gelu() -> Self {
        Activation::Gelu {
            approximate: GeluApprox::None,
        }
    }

    /// GELU's tanh approximation (PyTorch's `nn.GELU(approximate="tanh")`).
    pub fn gelu_tanh() -> Self {
        Activation::Gelu {
            approximate: GeluApprox::Tanh,
        }
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
            Activation::Gelu {
                approximate: GeluApprox::None,
            } => gelu(x),
            Activation::Gelu {
                approximate: GeluApprox::Tanh,
            } => gelu_tanh(x),
            Activation::Tanh => tanh(x),
            Activation::Sigmoid => sigmoid(x),
            Activation::Softplus => softplus(x),
        }
    }
}
