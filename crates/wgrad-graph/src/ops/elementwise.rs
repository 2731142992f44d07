//! Elementwise ops: unary, binary with NumPy broadcasting, comparisons, `where`, casts, and operators.
//!
//! Binary primitives take equal shapes; broadcasting inserts `expand` views here, and `expand`'s backward
//! sums, so no backward rule has to unbroadcast. Mixed dtypes are an error, not a silent promotion.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::{BinaryOp, Op, UnaryOp};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// The right-hand side of a binary op: a tensor or a number (converted to the left side's dtype).
#[derive(Clone, Debug)]
pub enum TensorOrScalar {
    Tensor(Tensor),
    Scalar(f64),
}

impl From<&Tensor> for TensorOrScalar {
    fn from(t: &Tensor) -> Self {
        TensorOrScalar::Tensor(t.clone())
    }
}
impl From<Tensor> for TensorOrScalar {
    fn from(t: Tensor) -> Self {
        TensorOrScalar::Tensor(t)
    }
}
impl From<f64> for TensorOrScalar {
    fn from(v: f64) -> Self {
        TensorOrScalar::Scalar(v)
    }
}
impl From<f32> for TensorOrScalar {
    fn from(v: f32) -> Self {
        TensorOrScalar::Scalar(v as f64)
    }
}
impl From<i32> for TensorOrScalar {
    fn from(v: i32) -> Self {
        TensorOrScalar::Scalar(v as f64)
    }
}

impl TensorOrScalar {
    fn into_tensor(self, like: &Tensor) -> Tensor {
        match self {
            TensorOrScalar::Tensor(t) => t,
            TensorOrScalar::Scalar(v) => Tensor::scalar(v, like.dtype(), like.device()),
        }
    }
}

impl Tensor {
    /// `op` applied elementwise (what `exp()`, `relu()`, … call; for code that picks the op at run time).
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        Tensor::from_op(Op::Unary(op), &[self])
    }

    /// Broadcasts to `shape` (a view; no copy).
    pub fn expand(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if &shape == self.shape() {
            return Ok(self.clone());
        }
        Tensor::from_op(Op::Expand(shape), &[self])
    }

    /// Both operands broadcast to their common shape.
    pub fn broadcast_pair(
        op: &'static str,
        lhs: &Tensor,
        rhs: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let shape = Shape::broadcast(op, lhs.shape(), rhs.shape())?;
        Ok((lhs.expand(shape.clone())?, rhs.expand(shape)?))
    }

    /// `self op rhs` elementwise with broadcasting (what `add()`, `maximum()`, … call).
    pub fn binary(&self, op: BinaryOp, rhs: impl Into<TensorOrScalar>) -> Result<Tensor> {
        let rhs = rhs.into().into_tensor(self);
        if self.dtype() != rhs.dtype() {
            return Err(Error::dtype(
                op.name(),
                format!(
                    "dtypes differ: lhs {} {}, rhs {} {}",
                    self.shape(),
                    self.dtype(),
                    rhs.shape(),
                    rhs.dtype()
                ),
            ));
        }
        let (l, r) = Tensor::broadcast_pair(op.name(), self, &rhs)?;
        Tensor::from_op(Op::Binary(op), &[&l, &r])
    }

    pub fn gt(&self, rhs: impl Into<TensorOrScalar>) -> Result<Tensor> {
        rhs.into().into_tensor(self).lt(self)
    }
    pub fn ge(&self, rhs: impl Into<TensorOrScalar>) -> Result<Tensor> {
        rhs.into().into_tensor(self).le(self)
    }
    pub fn ne(&self, rhs: impl Into<TensorOrScalar>) -> Result<Tensor> {
        self.eq(rhs)?.logical_not()
    }
    /// `!x` for a bool tensor.
    pub fn logical_not(&self) -> Result<Tensor> {
        if self.dtype() != DType::Bool {
            return Err(Error::dtype(
                "logical_not",
                format!("needs bool, got {}", self.dtype()),
            ));
        }
        self.eq(0.0)
    }

    /// `cond ? a : b` elementwise, all three broadcast together; `cond` is bool.
    pub fn where_(
        &self,
        a: impl Into<TensorOrScalar>,
        b: impl Into<TensorOrScalar>,
    ) -> Result<Tensor> {
        let (a, b) = match (a.into(), b.into()) {
            (TensorOrScalar::Tensor(a), b) => {
                let b = b.into_tensor(&a);
                (a, b)
            }
            (a, TensorOrScalar::Tensor(b)) => (a.into_tensor(&b), b),
            (TensorOrScalar::Scalar(_), TensorOrScalar::Scalar(_)) => {
                return Err(Error::argument(
                    "where",
                    "a or b must be a tensor (the dtype comes from it)",
                ));
            }
        };
        let shape = Shape::broadcast("where", self.shape(), a.shape())?;
        let shape = Shape::broadcast("where", &shape, b.shape())?;
        let (c, a, b) = (
            self.expand(shape.clone())?,
            a.expand(shape.clone())?,
            b.expand(shape)?,
        );
        Tensor::from_op(Op::Where, &[&c, &a, &b])
    }

    /// `min(max(x, min), max)` elementwise, as `torch.clamp(x, min, max)`; `None` leaves that side open.
    ///
    /// PyTorch's edge cases: NaN stays NaN; when `min > max` every element becomes `max`. The gradient is 1
    /// where `min <= x <= max` (the bounds included, unlike `maximum`/`minimum`, whose ties share it) and 0
    /// elsewhere. Integer tensors take the bounds converted to their dtype.
    ///
    /// # Errors
    /// `Argument` if both bounds are `None` (PyTorch refuses that too).
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        let lower = |x: &Tensor, lo: f64| x.lt(lo)?.where_(lo, x);
        match (min, max) {
            (None, None) => Err(Error::argument(
                "clamp",
                "at least one of min and max must be given",
            )),
            (Some(lo), None) => lower(self, lo),
            (lo, Some(hi)) => {
                // min > max: every element becomes max, so the lower bound moves down to it
                let below = match lo {
                    Some(lo) => lower(self, lo.min(hi))?,
                    None => self.clone(),
                };
                self.gt(hi)?.where_(hi, &below)
            }
        }
    }

    /// Converts to another dtype (float→int truncates toward zero; →bool is `x != 0`).
    pub fn cast(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        Tensor::from_op(Op::Cast(dtype), &[self])
    }

    /// A contiguous copy (rarely needed: kernels copy strided inputs themselves when they must).
    pub fn contiguous(&self) -> Result<Tensor> {
        Tensor::from_op(Op::Copy, &[self])
    }
}

/// `Tensor::<name>` for every unary op of the registry.
macro_rules! unary_methods {
    ($($(#[doc = $doc:literal])* $variant:ident $name:ident [$($flag:ident)*] |$x:ident| $cpu:expr;)*) => {
        impl Tensor {
            $($(#[doc = $doc])* pub fn $name(&self) -> Result<Tensor> {
                self.unary(UnaryOp::$variant)
            })*
        }
    };
}
crate::unary_op_table!(unary_methods);

/// `Tensor::<name>(rhs)` for every binary op of the registry; `rhs` broadcasts (NumPy rules) and may be a
/// number, converted to `self`'s dtype.
macro_rules! binary_methods {
    ($($(#[doc = $doc:literal])* $variant:ident $name:ident [$($flag:ident)*] |$a:ident, $b:ident| $cpu:expr
        $(, int |$ia:ident, $ib:ident| $int:expr)?;)*) => {
        impl Tensor {
            $($(#[doc = $doc])* pub fn $name(&self, rhs: impl Into<TensorOrScalar>) -> Result<Tensor> {
                self.binary(BinaryOp::$variant, rhs)
            })*
        }
    };
}
crate::binary_op_table!(binary_methods);

macro_rules! binary_operator {
    ($trait:ident, $method:ident) => {
        impl $trait<&Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$method(self, rhs)
            }
        }
        impl $trait<Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$method(&self, rhs)
            }
        }
        impl $trait<&Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$method(&self, rhs)
            }
        }
        impl $trait<Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$method(self, rhs)
            }
        }
        impl $trait<f64> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: f64) -> Result<Tensor> {
                Tensor::$method(self, rhs)
            }
        }
        impl $trait<f64> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: f64) -> Result<Tensor> {
                Tensor::$method(&self, rhs)
            }
        }
        impl $trait<&Tensor> for f64 {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$method(&Tensor::scalar(self, rhs.dtype(), rhs.device()), rhs)
            }
        }
    };
}
binary_operator!(Add, add);
binary_operator!(Sub, sub);
binary_operator!(Mul, mul);
binary_operator!(Div, div);

impl Neg for &Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(self)
    }
}
impl Neg for Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(&self)
    }
}
