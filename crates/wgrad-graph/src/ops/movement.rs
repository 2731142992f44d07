//! Movement ops: reshape, permute, slice, pad, concatenation, gather. Most are views that cost no kernel.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::Op;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// A target shape for `reshape`: plain dims, or dims with one `-1` to infer.
pub trait IntoDims {
    fn into_dims(self, numel: usize, from: &Shape) -> Result<Shape>;
}

impl<S: Into<Shape>> IntoDims for S {
    fn into_dims(self, _numel: usize, _from: &Shape) -> Result<Shape> {
        Ok(self.into())
    }
}

/// Dims where one entry may be `-1` (inferred from the element count).
#[derive(Clone, Debug)]
pub struct Infer<'a>(pub &'a [isize]);

impl IntoDims for Infer<'_> {
    fn into_dims(self, numel: usize, from: &Shape) -> Result<Shape> {
        let known: usize = self
            .0
            .iter()
            .filter(|&&d| d >= 0)
            .map(|&d| d as usize)
            .product();
        let holes = self.0.iter().filter(|&&d| d < 0).count();
        if holes > 1
            || self.0.iter().any(|&d| d < -1)
            || (holes == 1 && (known == 0 || !numel.is_multiple_of(known)))
        {
            return Err(Error::shape(
                "reshape",
                format!("cannot reshape {from} into {:?}", self.0),
            ));
        }
        Ok(Shape(
            self.0
                .iter()
                .map(|&d| if d < 0 { numel / known } else { d as usize })
                .collect(),
        ))
    }
}

impl Tensor {
    /// Same elements, new shape: a view when the data is contiguous, else one copy.
    pub fn reshape(&self, dims: impl IntoDims) -> Result<Tensor> {
        let shape = dims.into_dims(self.numel(), self.shape())?;
        if &shape == self.shape() {
            return Ok(self.clone());
        }
        Tensor::from_op(Op::Reshape(shape), &[self])
    }

    /// Merges axes `start..` into one: `[n, c, h, w].flatten(1)` is `[n, c·h·w]`.
    pub fn flatten(&self, start: usize) -> Result<Tensor> {
        if start > self.rank() {
            return Err(Error::Axis {
                op: "flatten",
                msg: format!("dim {start} out of range for shape {}", self.shape()),
            });
        }
        let mut dims = self.dims()[..start].to_vec();
        dims.push(self.dims()[start..].iter().product());
        self.reshape(dims)
    }

    /// Inserts a size-1 axis at `axis` (negative counts from the end of the result).
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let r = self.rank() as isize + 1;
        let a = if axis < 0 { axis + r } else { axis };
        if a < 0 || a >= r {
            return Err(Error::Axis {
                op: "unsqueeze",
                msg: format!("dim {axis} out of range for shape {}", self.shape()),
            });
        }
        let mut dims = self.dims().to_vec();
        dims.insert(a as usize, 1);
        self.reshape(dims)
    }

    /// Removes a size-1 axis.
    pub fn squeeze(&self, axis: isize) -> Result<Tensor> {
        let a = self.shape().axis("squeeze", axis)?;
        if self.dims()[a] != 1 {
            return Err(Error::shape(
                "squeeze",
                format!("dim {a} of shape {} is not 1", self.shape()),
            ));
        }
        let mut dims = self.dims().to_vec();
        dims.remove(a);
        self.reshape(dims)
    }

    /// Reorders axes (a view).
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        if perm.iter().enumerate().all(|(i, &p)| i == p) && perm.len() == self.rank() {
            return Ok(self.clone());
        }
        Tensor::from_op(Op::Permute(perm.to_vec()), &[self])
    }

    /// Swaps two axes (a view).
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let (a, b) = (
            self.shape().axis("transpose", a)?,
            self.shape().axis("transpose", b)?,
        );
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Swaps the last two axes.
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() < 2 {
            return Err(Error::shape(
                "t",
                format!("needs rank >= 2, got {}", self.shape()),
            ));
        }
        self.transpose(-2, -1)
    }

    /// `x[start:end:step]` along one axis (a view). `end` is clamped to the dim like Python slicing.
    pub fn slice(&self, axis: isize, start: usize, end: usize, step: usize) -> Result<Tensor> {
        let a = self.shape().axis("slice", axis)?;
        let mut starts = vec![0; self.rank()];
        let mut ends = self.dims().to_vec();
        let mut steps = vec![1; self.rank()];
        starts[a] = start;
        ends[a] = end.min(self.dims()[a]);
        steps[a] = step;
        if start > ends[a] {
            return Err(Error::index(
                "slice",
                format!(
                    "range {start}..{end} out of bounds for dim {a} of shape {}",
                    self.shape()
                ),
            ));
        }
        self.slice_all(starts, ends, steps)
    }

    /// `x[s0:e0:k0, s1:e1:k1, …]` (a view).
    pub fn slice_all(
        &self,
        starts: Vec<usize>,
        ends: Vec<usize>,
        steps: Vec<usize>,
    ) -> Result<Tensor> {
        if starts.iter().all(|&s| s == 0) && steps.iter().all(|&k| k == 1) && ends == self.dims() {
            return Ok(self.clone());
        }
        Tensor::from_op(
            Op::Slice {
                starts,
                ends,
                steps,
            },
            &[self],
        )
    }

    /// `length` elements from `start` along `axis`.
    pub fn narrow(&self, axis: isize, start: usize, length: usize) -> Result<Tensor> {
        let a = self.shape().axis("narrow", axis)?;
        if start + length > self.dims()[a] {
            return Err(Error::index(
                "narrow",
                format!(
                    "range {start}..{} out of bounds for dim {a} of shape {}",
                    start + length,
                    self.shape()
                ),
            ));
        }
        self.slice(axis, start, start + length, 1)
    }

    /// Pads every axis with `(before, after)` elements of `value`.
    pub fn pad(&self, padding: &[(usize, usize)], value: f64) -> Result<Tensor> {
        if padding.iter().all(|&(b, a)| b == 0 && a == 0) && padding.len() == self.rank() {
            return Ok(self.clone());
        }
        let before = padding.iter().map(|p| p.0).collect();
        let after = padding.iter().map(|p| p.1).collect();
        Tensor::from_op(
            Op::Pad {
                before,
                after,
                value,
            },
            &[self],
        )
    }

    /// Joins tensors along `axis`.
    pub fn cat(tensors: &[&Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::argument("cat", "needs at least one tensor"))?;
        let a = first.shape().axis("cat", axis)?;
        if tensors.len() == 1 {
            return Ok((*first).clone());
        }
        Tensor::from_op(Op::Cat { axis: a }, tensors)
    }

    /// Stacks equal-shaped tensors along a new axis.
    pub fn stack(tensors: &[&Tensor], axis: isize) -> Result<Tensor> {
        let items = tensors
            .iter()
            .map(|t| t.unsqueeze(axis))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&items.iter().collect::<Vec<_>>(), axis)
    }

    /// PyTorch `gather`: `out[p] = self[p with p[axis] := index[p]]`; `index` is i32 of the same rank.
    pub fn gather(&self, axis: isize, index: &Tensor) -> Result<Tensor> {
        let a = self.shape().axis("gather", axis)?;
        Tensor::from_op(Op::Gather { axis: a }, &[self, index])
    }

    /// Rows (or slices) picked by a 1-D i32 `index` along `axis`: an embedding lookup.
    pub fn index_select(&self, axis: isize, index: &Tensor) -> Result<Tensor> {
        let a = self.shape().axis("index_select", axis)?;
        if index.rank() != 1 || index.dtype() != DType::I32 {
            return Err(Error::shape(
                "index_select",
                format!(
                    "index must be 1-D i32, got {} {}",
                    index.shape(),
                    index.dtype()
                ),
            ));
        }
        let mut view = vec![1; self.rank()];
        view[a] = index.numel();
        let mut full = self.dims().to_vec();
        full[a] = index.numel();
        let idx = index.reshape(view)?.expand(full)?;
        self.gather(axis, &idx)
    }

    /// The adjoint of `gather`: zeros of `shape` with `src[p]` added at `p with p[axis] := index[p]`.
    pub fn scatter_add(
        index: &Tensor,
        src: &Tensor,
        axis: isize,
        shape: impl Into<Shape>,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let a = shape.axis("scatter_add", axis)?;
        Tensor::from_op(Op::ScatterAdd { axis: a, shape }, &[index, src])
    }

    /// One-hot rows for i32 class labels: `[n]` → `[n, classes]` in `dtype`.
    pub fn one_hot(&self, classes: usize, dtype: DType) -> Result<Tensor> {
        let cls = Tensor::arange(0.0, classes as f64, 1.0, DType::I32, self.device())?;
        let mut dims = self.dims().to_vec();
        dims.push(classes);
        let labels = self.unsqueeze(-1)?.expand(dims.clone())?;
        labels.eq(&cls.expand(dims)?)?.cast(dtype)
    }
}
