//! Transposed 2-D convolution, a composite of the `conv2d_backward_input` primitive.
//!
//! The gradient of `conv2d` with respect to its input *is* the transposed convolution: with weight
//! `[c_in, c_out/groups, kh, kw]` (PyTorch's `ConvTranspose2d` layout) read as a convolution weight
//! `[c_out_conv, c_in_conv/groups, kh, kw]`, the transposed convolution of `x` is
//! `conv2d_backward_input(dy = x, weight)`, the groups splitting the channels the same way. So no new
//! primitive, CPU loop or WGSL kernel is needed, and the backward rules of `conv2d_backward_input`
//! (a `conv2d` for the input, a `conv2d_backward_weight` for the weight) serve as its gradient.

use crate::error::{Error, Result};
use crate::op::{Conv2dParams, Op};
use crate::tensor::Tensor;

/// Parameters of a transposed 2-D convolution (PyTorch's `conv_transpose2d`).
///
/// `output_padding` adds rows and columns at the bottom and right of the output (it resolves the
/// ambiguity of a strided convolution's input size); it must be smaller than the stride or the dilation
/// along its axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvTranspose2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub output_padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for ConvTranspose2dParams {
    fn default() -> Self {
        ConvTranspose2dParams {
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl ConvTranspose2dParams {
    /// The convolution this one transposes (`output_padding` has no counterpart there).
    pub fn conv(&self) -> Conv2dParams {
        Conv2dParams {
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            groups: self.groups,
        }
    }

    /// Output size along one spatial axis: `(in - 1)·s - 2p + d·(k - 1) + output_padding + 1`, or `None`
    /// when that is below 1.
    pub fn out_size(&self, axis: usize, input: usize, kernel: usize) -> Option<usize> {
        let grow = input.checked_sub(1)? * self.stride[axis]
            + self.dilation[axis] * kernel.checked_sub(1)?
            + self.output_padding[axis]
            + 1;
        grow.checked_sub(2 * self.padding[axis]).filter(|&n| n >= 1)
    }
}

/// Why `(x, weight, params)` is not a transposed convolution PyTorch would run, or `Ok`.
fn check(x: &Tensor, w: &Tensor, p: &ConvTranspose2dParams) -> Result<()> {
    let op = "conv_transpose2d";
    if x.rank() != 4 || w.rank() != 4 {
        return Err(Error::shape(
            op,
            format!(
                "needs input [n, c_in, h, w] and weight [c_in, c_out/groups, kh, kw], got input {}, weight {}",
                x.shape(),
                w.shape()
            ),
        ));
    }
    if x.dtype() != w.dtype() {
        return Err(Error::dtype(
            op,
            format!("dtypes differ: input {}, weight {}", x.dtype(), w.dtype()),
        ));
    }
    let c_in = x.dims()[1];
    if p.groups == 0 || w.dims()[0] != c_in || !c_in.is_multiple_of(p.groups) {
        return Err(Error::shape(
            op,
            format!(
                "weight {} does not fit input {} with groups {} (weight [c_in, c_out/groups, kh, kw], groups dividing c_in)",
                w.shape(),
                x.shape(),
                p.groups
            ),
        ));
    }
    if p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err(Error::argument(
            op,
            format!(
                "stride {:?} and dilation {:?} must be positive",
                p.stride, p.dilation
            ),
        ));
    }
    let too_big = (0..2).any(|a| p.output_padding[a] >= p.stride[a].max(p.dilation[a]));
    if too_big {
        return Err(Error::argument(
            op,
            format!(
                "output padding must be smaller than either stride or dilation, got output_padding {:?}, stride {:?}, dilation {:?}",
                p.output_padding, p.stride, p.dilation
            ),
        ));
    }
    Ok(())
}

impl Tensor {
    /// Transposed 2-D convolution (PyTorch's `conv_transpose2d`, the gradient of `conv2d` with respect to
    /// its input) of `[n, c_in, h, w]` with weight `[c_in, c_out/groups, kh, kw]`, plus an optional bias
    /// `[c_out]`.
    ///
    /// # Shapes
    /// - input `[n, c_in, h, w]`, weight `[c_in, c_out/groups, kh, kw]`, bias `[c_out]`
    /// - output `[n, c_out, h_out, w_out]`, `h_out = (h - 1)·s - 2p + d·(kh - 1) + output_padding + 1`
    ///
    /// # Errors
    /// `Error::Shape` when the ranks, channels or bias do not fit or the output would be empty;
    /// `Error::DType` for mixed dtypes; `Error::Argument` for a zero stride or dilation, `groups` not
    /// dividing `c_in`, or an `output_padding` not smaller than the stride or the dilation (PyTorch's rule).
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        params: ConvTranspose2dParams,
    ) -> Result<Tensor> {
        check(self, weight, &params)?;
        let (h, w) = (self.dims()[2], self.dims()[3]);
        let (kh, kw) = (weight.dims()[2], weight.dims()[3]);
        let (Some(oh), Some(ow)) = (params.out_size(0, h, kh), params.out_size(1, w, kw)) else {
            return Err(Error::shape(
                "conv_transpose2d",
                format!(
                    "output size is too small: input {}, weight {}, stride {:?}, padding {:?}, dilation {:?}, output_padding {:?}",
                    self.shape(),
                    weight.shape(),
                    params.stride,
                    params.padding,
                    params.dilation,
                    params.output_padding
                ),
            ));
        };
        let y = if (0..2).all(|a| params.output_padding[a] < params.stride[a]) {
            // conv2d of an [oh, ow] input gives [h, w] exactly when output_padding < stride
            Tensor::from_op(
                Op::Conv2dBackwardInput {
                    params: params.conv(),
                    input_hw: [oh, ow],
                },
                &[self, weight],
            )?
        } else {
            uncropped(self, weight, &params, [oh, ow])?
        };
        match bias {
            None => Ok(y),
            Some(b) => {
                if b.rank() != 1 || b.dims()[0] != y.dims()[1] {
                    return Err(Error::shape(
                        "conv_transpose2d",
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
}

/// The transposed convolution when `stride <= output_padding < dilation` (no convolution's input size
/// maps back to `out`): the full, unpadded result, then the window `[p, p + out)` of it on each axis, with
/// zeros past its end (rows no input reaches).
fn uncropped(x: &Tensor, w: &Tensor, p: &ConvTranspose2dParams, out: [usize; 2]) -> Result<Tensor> {
    let unpadded = ConvTranspose2dParams {
        padding: [0, 0],
        output_padding: [0, 0],
        ..*p
    };
    let full: Vec<usize> = (0..2)
        .map(|a| (x.dims()[2 + a] - 1) * p.stride[a] + p.dilation[a] * (w.dims()[2 + a] - 1) + 1)
        .collect();
    let mut y = Tensor::from_op(
        Op::Conv2dBackwardInput {
            params: unpadded.conv(),
            input_hw: [full[0], full[1]],
        },
        &[x, w],
    )?;
    let mut pad = vec![(0, 0); 4];
    for (a, (&o, &f)) in out.iter().zip(&full).enumerate() {
        pad[2 + a] = (0, (p.padding[a] + o).saturating_sub(f));
    }
    y = y.pad(&pad, 0.0)?;
    for (a, &o) in out.iter().enumerate() {
        y = y.narrow(2 + a as isize, p.padding[a], o)?;
    }
    Ok(y)
}
