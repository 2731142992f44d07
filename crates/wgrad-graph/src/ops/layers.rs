//! The ops layers are made of: matmul, convolution, pooling, softmax.

use crate::error::{Error, Result};
use crate::op::{Conv2dParams, Op, Pool2dParams};
use crate::shape::Shape;
use crate::tensor::Tensor;

impl Tensor {
    /// Matrix product with PyTorch's `matmul` rules: 1-D operands are promoted (and the added axis removed
    /// again), leading batch dims broadcast. A 2-D right operand is shared across the batch by a stride-0
    /// view, never copied.
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        if self.rank() == 0 || rhs.rank() == 0 {
            return Err(Error::shape(
                "matmul",
                format!(
                    "needs rank >= 1, got lhs {}, rhs {}",
                    self.shape(),
                    rhs.shape()
                ),
            ));
        }
        let lhs = if self.rank() == 1 {
            self.unsqueeze(0)?
        } else {
            self.clone()
        };
        let r = if rhs.rank() == 1 {
            rhs.unsqueeze(-1)?
        } else {
            rhs.clone()
        };
        let (m, k) = (lhs.dims()[lhs.rank() - 2], lhs.dims()[lhs.rank() - 1]);
        let (k2, n) = (r.dims()[r.rank() - 2], r.dims()[r.rank() - 1]);
        if k != k2 {
            return Err(Error::shape(
                "matmul",
                format!(
                    "inner dims differ: lhs {}, rhs {} ({k} != {k2})",
                    self.shape(),
                    rhs.shape()
                ),
            ));
        }
        let lb = Shape::new(&lhs.dims()[..lhs.rank() - 2]);
        let rb = Shape::new(&r.dims()[..r.rank() - 2]);
        let batch = Shape::broadcast("matmul", &lb, &rb)?;
        let bn = batch.numel();
        let out = if rb.numel() == 1 && lb == batch {
            // [..., m, k] x [k, n]: fold the batch into m, one GEMM.
            let l3 = lhs.reshape([1, bn * m, k])?;
            let r3 = r.reshape([1, k, n])?;
            Tensor::from_op(Op::Matmul, &[&l3, &r3])?
        } else {
            let l3 = to_batch3(&lhs, &lb, &batch, m, k)?;
            let r3 = to_batch3(&r, &rb, &batch, k, n)?;
            Tensor::from_op(Op::Matmul, &[&l3, &r3])?
        };
        let mut dims = batch.0.clone();
        if self.rank() > 1 {
            dims.push(m);
        }
        if rhs.rank() > 1 {
            dims.push(n);
        }
        out.reshape(dims)
    }

    /// 2-D convolution (cross-correlation) of `[n, c_in, h, w]` with `[c_out, c_in/groups, kh, kw]`, plus an
    /// optional bias `[c_out]`.
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        params: Conv2dParams,
    ) -> Result<Tensor> {
        let y = Tensor::from_op(Op::Conv2d(params), &[self, weight])?;
        match bias {
            None => Ok(y),
            Some(b) => {
                if b.rank() != 1 || b.dims()[0] != y.dims()[1] {
                    return Err(Error::shape(
                        "conv2d",
                        format!(
                            "bias {} does not match output channels of {}",
                            b.shape(),
                            y.shape()
                        ),
                    ));
                }
                y.add(&b.reshape([1, b.dims()[0], 1, 1])?)
            }
        }
    }

    /// Max pooling over `[n, c, h, w]` (padding counts as -∞).
    pub fn max_pool2d(
        &self,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Tensor> {
        Tensor::from_op(
            Op::MaxPool2d(Pool2dParams {
                kernel,
                stride,
                padding,
            }),
            &[self],
        )
    }

    /// Average pooling over `[n, c, h, w]` (padding counts as zeros, divisor always kh·kw).
    pub fn avg_pool2d(
        &self,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Tensor> {
        Tensor::from_op(
            Op::AvgPool2d(Pool2dParams {
                kernel,
                stride,
                padding,
            }),
            &[self],
        )
    }

    /// Softmax along `axis`, max-subtracted.
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        let a = self.shape().axis("softmax", axis)?;
        Tensor::from_op(Op::Softmax { axis: a }, &[self])
    }

    /// `x - logsumexp(x)` along `axis`; finite for logits like `[1000, 0, -1000]`.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        let a = self.shape().axis("log_softmax", axis)?;
        Tensor::from_op(Op::LogSoftmax { axis: a }, &[self])
    }
}

/// Brings `[batch..., r, c]` to `[prod(batch), r, c]` for the matmul primitive: an operand without batch
/// dims becomes a stride-0 expand (no copy).
fn to_batch3(t: &Tensor, own: &Shape, batch: &Shape, r: usize, c: usize) -> Result<Tensor> {
    let bn = batch.numel();
    if own.numel() == 1 {
        return t.reshape([1, r, c])?.expand([bn, r, c]);
    }
    let mut full = batch.0.clone();
    full.extend([r, c]);
    t.expand(full)?.reshape([bn, r, c])
}

/// `g` with its last two axes swapped, computed in that layout, when `g` is a product not yet computed
/// (`a·b`, or `a·b` of batch 1 reshaped to 2-D): `bᵀ·aᵀ`. `None` for anything else.
///
/// Why: the gradient of a weight used transposed (`Linear`'s `x·Wᵀ`) is the transpose of a product, and as
/// a strided view it would be read column-wise by everything after it (the optimizer step reads it once
/// per element), which costs more than producing it in place (PyTorch computes `dW = gᵀ·x` the same way).
pub(crate) fn transposed_product(g: &Tensor) -> Result<Option<Tensor>> {
    if g.is_realized() {
        return Ok(None);
    }
    let swapped = |p: &Tensor| -> Result<Option<Tensor>> {
        if *p.op() != Op::Matmul || p.is_realized() {
            return Ok(None);
        }
        let ab = p.inputs();
        let [a, b] = ab.as_slice() else {
            return Ok(None);
        };
        let bt = b.transpose(1, 2)?;
        let at = a.transpose(1, 2)?;
        Tensor::from_op(Op::Matmul, &[&bt, &at]).map(Some)
    };
    match g.op() {
        Op::Matmul if g.rank() == 3 => swapped(g),
        Op::Reshape(s) if s.0.len() == 2 => {
            let inputs = g.inputs();
            let Some(p) = inputs.first() else {
                return Ok(None);
            };
            if p.rank() != 3 || p.dims()[0] != 1 {
                return Ok(None);
            }
            match swapped(p)? {
                Some(t) => t.reshape([s.0[1], s.0[0]]).map(Some),
                None => Ok(None),
            }
        }
        _ => Ok(None),
    }
}
