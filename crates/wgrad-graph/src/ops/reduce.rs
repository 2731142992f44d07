//! Reductions: sum, max, min, argmax, argmin over axes, with `keepdim`, plus mean and friends.

use crate::dtype::DType;
use crate::error::Result;
use crate::op::{Op, ReduceOp};
use crate::tensor::Tensor;

impl Tensor {
    /// Resolves user axes (negative counts from the end) into sorted, distinct axes.
    pub(crate) fn resolve_axes(&self, op: &'static str, axes: &[isize]) -> Result<Vec<usize>> {
        let mut out = axes
            .iter()
            .map(|&a| self.shape().axis(op, a))
            .collect::<Result<Vec<_>>>()?;
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn reduce(&self, op: ReduceOp, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let axes = self.resolve_axes(op.name(), axes)?;
        let kept = Tensor::from_op(
            Op::Reduce {
                op,
                axes: axes.clone(),
            },
            &[self],
        )?;
        if keepdim {
            return Ok(kept);
        }
        let shape: Vec<usize> = (0..self.rank())
            .filter(|i| !axes.contains(i))
            .map(|i| self.dims()[i])
            .collect();
        kept.reshape(shape)
    }

    fn all_axes(&self) -> Vec<isize> {
        (0..self.rank() as isize).collect()
    }

    /// Sum over `axes`; `keepdim` keeps them as size 1.
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Sum, axes, keepdim)
    }
    /// Sum of every element (shape `[]`).
    pub fn sum_all(&self) -> Result<Tensor> {
        self.reduce(ReduceOp::Sum, &self.all_axes(), false)
    }
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Max, axes, keepdim)
    }
    pub fn max_all(&self) -> Result<Tensor> {
        self.reduce(ReduceOp::Max, &self.all_axes(), false)
    }
    pub fn min(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Min, axes, keepdim)
    }
    pub fn min_all(&self) -> Result<Tensor> {
        self.reduce(ReduceOp::Min, &self.all_axes(), false)
    }
    /// Index (i32) of the first maximum along `axis`.
    pub fn argmax(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::ArgMax, &[axis], keepdim)
    }
    /// Index (i32) of the first minimum along `axis`.
    pub fn argmin(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::ArgMin, &[axis], keepdim)
    }

    fn count(&self, axes: &[isize]) -> Result<usize> {
        Ok(self
            .resolve_axes("mean", axes)?
            .iter()
            .map(|&a| self.dims()[a])
            .product())
    }

    /// Mean over `axes`. Half-precision inputs (f16, bf16) are summed and divided in f32 and the result
    /// rounded back once, as PyTorch does: in f16 the element count alone overflows past 65,504.
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let n = self.count(axes)?;
        let wide = self.widened()?;
        wide.sum(axes, keepdim)?.div(n as f64)?.cast(self.dtype())
    }
    pub fn mean_all(&self) -> Result<Tensor> {
        let wide = self.widened()?;
        wide.sum_all()?.div(self.numel() as f64)?.cast(self.dtype())
    }
    /// Variance over `axes` (`unbiased` divides by n - 1, as `torch.var` does by default, so one element
    /// gives NaN, as in PyTorch). Half-precision inputs are computed in f32 (see [`Tensor::mean`]).
    pub fn var(&self, axes: &[isize], keepdim: bool, unbiased: bool) -> Result<Tensor> {
        let n = self.count(axes)?;
        let wide = self.widened()?;
        let centered = wide.sub(&wide.mean(axes, true)?)?;
        let ss = centered.mul(&centered)?.sum(axes, keepdim)?;
        let divisor = if unbiased { n as f64 - 1.0 } else { n as f64 };
        ss.div(divisor)?.cast(self.dtype())
    }
    /// The tensor in f32 when it is f16 or bf16 (for statistics, whose sums and counts overflow or lose
    /// precision in half precision), else itself.
    pub fn widened(&self) -> Result<Tensor> {
        match self.dtype() {
            DType::F16 | DType::BF16 => self.cast(DType::F32),
            _ => Ok(self.clone()),
        }
    }
    /// `log Σ exp(x)` over `axes`, computed stably by subtracting the (detached) maximum. An infinite
    /// maximum is not subtracted (PyTorch's rule), so a slice of all `-inf` gives `-inf`, not NaN.
    pub fn logsumexp(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let m = self.max(axes, true)?.detach();
        let finite = m.abs()?.lt(f64::INFINITY)?;
        let m = finite.where_(&m, 0.0)?;
        let s = self.sub(&m)?.exp()?.sum(axes, true)?.log()?.add(&m)?;
        if keepdim {
            return Ok(s);
        }
        let axes = self.resolve_axes("logsumexp", axes)?;
        let shape: Vec<usize> = (0..self.rank())
            .filter(|i| !axes.contains(i))
            .map(|i| self.dims()[i])
            .collect();
        s.reshape(shape)
    }
    /// Number of `true` elements of a bool tensor along `axes`, as i32.
    pub fn count_true(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.cast(DType::I32)?.sum(axes, keepdim)
    }
}
