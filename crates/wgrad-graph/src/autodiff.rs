//! Reverse-mode autodiff, symbol to symbol.
//!
//! Backward rules are written with graph ops, so a gradient is itself a differentiable graph: `grad` of a
//! `grad` works (gradient penalties, contractive autoencoders), and every backend runs gradients with the
//! kernels it already has. `vjp` holds one arm per op returning one `Option<Tensor>` per input (`None`: no
//! gradient flows there); the engine checks the arity and sums contributions.
//!
//! Conventions: ReLU'(0) = 0; ties of `maximum`/`minimum` and of `max`/`min` reductions share the gradient
//! equally; the gradient of a broadcast (`expand`) is the sum over the broadcast axes.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};
use crate::tensor::{no_grad, Tensor};

/// Nodes reachable from `root` through inputs that require grad, users after inputs reversed
/// (i.e. root first).
fn backward_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !seen.insert(t.id()) {
            continue;
        }
        stack.push((t.clone(), true));
        for i in t.inputs() {
            if i.requires_grad() && !seen.contains(&i.id()) {
                stack.push((i, false));
            }
        }
    }
    order.reverse();
    order
}

/// Gradients of `output` with respect to each of `wrt`, as graph tensors (PyTorch `autograd.grad` with
/// `create_graph=True`). `seed` is d(loss)/d(output); it may be omitted for a one-element output.
/// An input that `output` does not depend on gets `None`.
pub fn grad(
    output: &Tensor,
    wrt: &[&Tensor],
    seed: Option<&Tensor>,
) -> Result<Vec<Option<Tensor>>> {
    let (grads, _) = propagate(output, seed)?;
    Ok(wrt.iter().map(|t| grads.get(&t.id()).cloned()).collect())
}

/// Propagates gradients from `output` back through the graph. Returns the gradient of every node on a
/// grad path, and those nodes in the order walked (output first), so callers need not walk again.
fn propagate(
    output: &Tensor,
    seed: Option<&Tensor>,
) -> Result<(HashMap<u64, Tensor>, Vec<Tensor>)> {
    if !output.requires_grad() {
        return Err(Error::Backward {
            msg: format!(
                "{output:?} does not require grad (no input with requires_grad reaches it)"
            ),
        });
    }
    let seed = match seed {
        Some(s) => {
            if s.shape() != output.shape() {
                return Err(Error::Backward {
                    msg: format!(
                        "seed gradient {} does not match output {}",
                        s.shape(),
                        output.shape()
                    ),
                });
            }
            s.clone()
        }
        None if output.numel() == 1 => output.ones_like(),
        None => {
            return Err(Error::Backward {
                msg: format!(
                    "output {} is not a scalar: pass a seed gradient",
                    output.shape()
                ),
            })
        }
    };
    let mut grads: HashMap<u64, Tensor> = HashMap::new();
    grads.insert(output.id(), seed);
    let order = backward_order(output);
    for node in &order {
        let Some(g) = grads.get(&node.id()).cloned() else {
            continue;
        };
        let inputs = node.inputs();
        if inputs.is_empty() {
            continue;
        }
        let contributions = vjp(node, &inputs, &g)?;
        if contributions.len() != inputs.len() {
            return Err(Error::Backward {
                msg: format!(
                    "rule for {} returned {} gradients for {} inputs",
                    node.op().name(),
                    contributions.len(),
                    inputs.len()
                ),
            });
        }
        for (input, c) in inputs.iter().zip(contributions) {
            let Some(c) = c else { continue };
            if !input.requires_grad() {
                continue;
            }
            let c = if c.dtype() != input.dtype() {
                c.cast(input.dtype())?
            } else {
                c
            };
            let total = match grads.remove(&input.id()) {
                Some(prev) => prev.add(&c)?,
                None => c,
            };
            grads.insert(input.id(), total);
        }
    }
    Ok((grads, order))
}

impl Tensor {
    /// Accumulates d(self)/d(leaf) into `leaf.grad()` for every leaf with `requires_grad` that `self` depends
    /// on. `self` must have one element. Stored gradients are detached (lazy until read).
    pub fn backward(&self) -> Result<()> {
        self.backward_with(None)
    }

    /// [`Tensor::backward`] with an explicit seed gradient (for non-scalar outputs).
    ///
    /// `self` is computed by the next realize on its device, whatever it realizes (see
    /// [`crate::realize::defer`]): reading the loss after `opt.step()` costs no second pass.
    pub fn backward_with(&self, seed: Option<&Tensor>) -> Result<()> {
        let (grads, order) = propagate(self, seed)?;
        crate::realize::defer(self);
        let leaves = order
            .into_iter()
            .filter(|t| *t.op() == Op::Leaf && t.requires_grad());
        for leaf in leaves {
            if let Some(g) = grads.get(&leaf.id()) {
                let total = match leaf.grad() {
                    Some(prev) => no_grad(|| prev.add(g))?,
                    None => g.clone(),
                };
                leaf.set_grad(Some(total.detach()));
            }
        }
        Ok(())
    }
}

fn axis_of(op: &Op) -> usize {
    match op {
        Op::Softmax { axis }
        | Op::LogSoftmax { axis }
        | Op::SoftmaxBackward { axis }
        | Op::LogSoftmaxBackward { axis } => *axis,
        _ => 0,
    }
}

/// The vector-Jacobian product of one node: for each input, `g · ∂node/∂input` as a graph.
fn vjp(y: &Tensor, x: &[Tensor], g: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let some = |t: Tensor| Ok::<_, Error>(Some(t));
    Ok(match y.op() {
        Op::Leaf | Op::Full(_) | Op::Random { .. } | Op::Detach => vec![None; x.len()],
        Op::Unary(u) => vec![unary_vjp(*u, &x[0], y, g)?],
        Op::Cast(_) => vec![if x[0].dtype().is_float() {
            some(g.cast(x[0].dtype())?)?
        } else {
            None
        }],
        Op::Binary(b) => binary_vjp(*b, &x[0], &x[1], y, g)?,
        // d where(c, a, b) = where(c, g, 0) da + where(c, 0, g) db
        Op::Where => {
            let zero = g.zeros_like();
            vec![
                None,
                Some(x[0].where_(g, &zero)?),
                Some(x[0].where_(&zero, g)?),
            ]
        }
        Op::Reduce { op, axes } => vec![reduce_vjp(*op, axes, &x[0], y, g)?],
        Op::Reshape(_) | Op::Copy => vec![Some(g.reshape(x[0].shape().clone())?)],
        // d permute(x, p) = permute(g, p⁻¹)
        Op::Permute(p) => {
            let mut inv = vec![0; p.len()];
            for (i, &pi) in p.iter().enumerate() {
                inv[pi] = i;
            }
            let r = inv.len();
            let swaps_last_two = r >= 2
                && inv[r - 2] == r - 1
                && inv[r - 1] == r - 2
                && inv[..r - 2].iter().enumerate().all(|(i, &d)| i == d);
            let product = if swaps_last_two {
                crate::ops::layers::transposed_product(g)?
            } else {
                None
            };
            vec![Some(match product {
                Some(t) => t,
                None => g.permute(&inv)?,
            })]
        }
        Op::Expand(_) => vec![Some(unexpand(g, &x[0])?)],
        Op::Slice { starts, steps, .. } => vec![Some(unslice(g, &x[0], starts, steps)?)],
        // d pad(x) = the un-padded window of g
        Op::Pad { before, .. } => {
            let ends = before.iter().zip(x[0].dims()).map(|(b, d)| b + d).collect();
            vec![Some(g.slice_all(
                before.clone(),
                ends,
                vec![1; before.len()],
            )?)]
        }
        Op::Cat { axis } => {
            let mut start = 0;
            let mut out = Vec::new();
            for xi in x {
                let len = xi.dims()[*axis];
                out.push(Some(g.narrow(*axis as isize, start, len)?));
                start += len;
            }
            out
        }
        Op::Gather { axis } => vec![
            Some(Tensor::scatter_add(
                &x[1],
                g,
                *axis as isize,
                x[0].shape().clone(),
            )?),
            None,
        ],
        Op::ScatterAdd { axis, .. } => vec![None, Some(g.gather(*axis as isize, &x[0])?)],
        // C = A·B: dA = G·Bᵀ, dB = Aᵀ·G (batched; transposes are views)
        Op::Matmul => vec![
            Some(Tensor::from_op(Op::Matmul, &[g, &x[1].transpose(1, 2)?])?),
            Some(Tensor::from_op(Op::Matmul, &[&x[0].transpose(1, 2)?, g])?),
        ],
        Op::Conv2d(p) => {
            let input_hw = [x[0].dims()[2], x[0].dims()[3]];
            let kernel_hw = [x[1].dims()[2], x[1].dims()[3]];
            vec![
                some(Tensor::from_op(
                    Op::Conv2dBackwardInput {
                        params: *p,
                        input_hw,
                    },
                    &[g, &x[1]],
                )?)?,
                some(Tensor::from_op(
                    Op::Conv2dBackwardWeight {
                        params: *p,
                        kernel_hw,
                    },
                    &[&x[0], g],
                )?)?,
            ]
        }
        // dx = bwd_input(dy, w) is bilinear: <G, bwd_input(dy, w)> = <conv(G, w), dy> = <w, bwd_weight(G, dy)>
        Op::Conv2dBackwardInput { params, .. } => {
            let kernel_hw = [x[1].dims()[2], x[1].dims()[3]];
            vec![
                some(Tensor::from_op(Op::Conv2d(*params), &[g, &x[1]])?)?,
                some(Tensor::from_op(
                    Op::Conv2dBackwardWeight {
                        params: *params,
                        kernel_hw,
                    },
                    &[g, &x[0]],
                )?)?,
            ]
        }
        // dw = bwd_weight(x, dy): <G, bwd_weight(x, dy)> = <conv(x, G), dy> = <x, bwd_input(dy, G)>
        Op::Conv2dBackwardWeight { params, .. } => {
            let input_hw = [x[0].dims()[2], x[0].dims()[3]];
            vec![
                some(Tensor::from_op(
                    Op::Conv2dBackwardInput {
                        params: *params,
                        input_hw,
                    },
                    &[&x[1], g],
                )?)?,
                some(Tensor::from_op(Op::Conv2d(*params), &[&x[0], g])?)?,
            ]
        }
        Op::MaxPool2d(p) => vec![Some(Tensor::from_op(
            Op::MaxPool2dBackward(*p),
            &[&x[0], g],
        )?)],
        Op::MaxPool2dBackward(_) => {
            return Err(Error::NotDifferentiable {
                op: "max_pool2d_backward",
            })
        }
        Op::AvgPool2d(p) => {
            let input_hw = [x[0].dims()[2], x[0].dims()[3]];
            vec![Some(Tensor::from_op(
                Op::AvgPool2dBackward {
                    params: *p,
                    input_hw,
                },
                &[g],
            )?)]
        }
        // avg_pool2d_backward is linear; its adjoint is avg_pool2d
        Op::AvgPool2dBackward { params, .. } => {
            vec![Some(Tensor::from_op(Op::AvgPool2d(*params), &[g])?)]
        }
        Op::Softmax { axis } => vec![Some(Tensor::from_op(
            Op::SoftmaxBackward { axis: *axis },
            &[y, g],
        )?)],
        Op::LogSoftmax { axis } => vec![Some(Tensor::from_op(
            Op::LogSoftmaxBackward { axis: *axis },
            &[y, g],
        )?)],
        op @ Op::SoftmaxBackward { .. } => softmax_backward_vjp(axis_of(op), &x[0], &x[1], g)?,
        op @ Op::LogSoftmaxBackward { .. } => {
            log_softmax_backward_vjp(axis_of(op), &x[0], &x[1], g)?
        }
        Op::Attention(p) => crate::ops::attention::attention_vjp(p, x, y, g)?,
        Op::AttentionBackwardQ(_) | Op::AttentionBackwardKv(_) => {
            return Err(Error::NotDifferentiable { op: y.op().name() })
        }
    })
}

fn unary_vjp(op: UnaryOp, x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
    let d = match op {
        UnaryOp::Neg => g.neg()?,
        UnaryOp::Exp => g.mul(y)?,             // d eˣ = eˣ dx
        UnaryOp::Log => g.div(x)?,             // d ln x = dx / x
        UnaryOp::Sqrt => g.div(&y.mul(2.0)?)?, // d √x = dx / 2√x
        UnaryOp::Rsqrt => g.mul(&y.mul(y)?.mul(y)?.mul(-0.5)?)?, // d x^-½ = -½ x^-3/2 dx
        UnaryOp::Recip => g.mul(&y.mul(y)?.neg()?)?, // d 1/x = -dx / x²
        UnaryOp::Abs => g.mul(&x.sign()?)?,    // d |x| = sign(x) dx
        UnaryOp::Sign => return Ok(None),      // zero almost everywhere
        UnaryOp::Sin => g.mul(&x.cos()?)?,
        UnaryOp::Cos => g.mul(&x.sin()?.neg()?)?,
        UnaryOp::Tanh => g.mul(&y.mul(y)?.neg()?.add(1.0)?)?, // d tanh = (1 - tanh²) dx
        UnaryOp::Sigmoid => g.mul(&y.mul(&y.neg()?.add(1.0)?)?)?, // d σ = σ(1 - σ) dx
        UnaryOp::Relu => x.gt(0.0)?.where_(g, 0.0)?,          // ReLU'(0) = 0
        // d erf(x) = 2/√π e^(-x²) dx
        UnaryOp::Erf => g.mul(
            &x.mul(x)?
                .neg()?
                .exp()?
                .mul(std::f64::consts::FRAC_2_SQRT_PI)?,
        )?,
    };
    Ok(Some(d))
}

fn binary_vjp(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    Ok(match op {
        BinaryOp::Add => vec![Some(g.clone()), Some(g.clone())],
        BinaryOp::Sub => vec![Some(g.clone()), Some(g.neg()?)],
        BinaryOp::Mul => vec![Some(g.mul(b)?), Some(g.mul(a)?)],
        // d(a/b) = da/b - a/b² db = da/b - y/b db
        BinaryOp::Div => vec![Some(g.div(b)?), Some(g.mul(y)?.div(b)?.neg()?)],
        // d aᵇ = b·aᵇ⁻¹ da + aᵇ·ln a db, as PyTorch masks it: no da where b = 0 (0·0⁻¹), no db where a = 0
        // and b ≥ 0 (0·ln 0); a negative base gives NaN in db (ln of a negative number)
        BinaryOp::Pow => {
            let da = g.mul(b)?.mul(&a.pow(&b.sub(1.0)?)?)?;
            let da = b.eq(0.0)?.where_(0.0, &da)?;
            let db = g.mul(y)?.mul(&a.log()?)?;
            let zero_base = a.eq(0.0)?.where_(&b.ge(0.0)?, 0.0)?;
            vec![Some(da), Some(zero_base.where_(0.0, &db)?)]
        }
        // PyTorch's rule: ties share the gradient equally, and each side gets it unless the other one
        // strictly wins (so with a NaN on either side both get it: NaN compares false)
        BinaryOp::Max | BinaryOp::Min => {
            let half = a.eq(b)?.where_(&g.mul(0.5)?, g)?;
            let (a_loses, b_loses) = if op == BinaryOp::Max {
                (a.lt(b)?, a.gt(b)?)
            } else {
                (a.gt(b)?, a.lt(b)?)
            };
            vec![
                Some(a_loses.where_(0.0, &half)?),
                Some(b_loses.where_(0.0, &half)?),
            ]
        }
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Eq => vec![None, None],
    })
}

fn reduce_vjp(
    op: ReduceOp,
    axes: &[usize],
    x: &Tensor,
    y: &Tensor,
    g: &Tensor,
) -> Result<Option<Tensor>> {
    match op {
        // d Σx = g broadcast back
        ReduceOp::Sum => Ok(Some(g.expand(x.shape().clone())?)),
        // the gradient goes to the extreme elements, shared equally among ties
        ReduceOp::Max | ReduceOp::Min => {
            let mask = x.eq(&y.expand(x.shape().clone())?)?.cast(g.dtype())?;
            let ax: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
            let count = mask.sum(&ax, true)?;
            Ok(Some(g.div(&count)?.expand(x.shape().clone())?.mul(&mask)?))
        }
        ReduceOp::ArgMax | ReduceOp::ArgMin => Err(Error::NotDifferentiable { op: op.name() }),
    }
}

/// Sums `g` over the axes `expand` broadcast, back to `x`'s shape.
fn unexpand(g: &Tensor, x: &Tensor) -> Result<Tensor> {
    let extra = g.rank() - x.rank();
    let axes: Vec<isize> = (0..g.rank())
        .filter(|&i| i < extra || (x.dims()[i - extra] == 1 && g.dims()[i] != 1))
        .map(|i| i as isize)
        .collect();
    let s = if axes.is_empty() {
        g.clone()
    } else {
        g.sum(&axes, true)?
    };
    s.reshape(x.shape().clone())
}

/// The adjoint of a strided slice: `g` placed back at positions `start + k·step`, zeros elsewhere. Built from
/// pad and reshape (interleave zeros after each element, then pad to the full extent), so it is itself
/// differentiable.
fn unslice(g: &Tensor, x: &Tensor, starts: &[usize], steps: &[usize]) -> Result<Tensor> {
    let mut t = g.clone();
    for axis in 0..x.rank() {
        let (start, step, full) = (starts[axis], steps[axis], x.dims()[axis]);
        let n = t.dims()[axis];
        if step > 1 && n > 0 {
            // [.., n, ..] -> [.., n, step, ..] (zeros after each element) -> [.., n·step, ..]
            let mut dims = t.dims().to_vec();
            dims.insert(axis + 1, 1);
            let mut pad = vec![(0, 0); dims.len()];
            pad[axis + 1] = (0, step - 1);
            let mut merged = t.dims().to_vec();
            merged[axis] = n * step;
            t = t.reshape(dims)?.pad(&pad, 0.0)?.reshape(merged)?;
            let keep = (n * step).min(full - start);
            t = t.narrow(axis as isize, 0, keep)?;
        }
        let len = t.dims()[axis];
        let mut pad = vec![(0, 0); x.rank()];
        pad[axis] = (start, full - start - len);
        t = t.pad(&pad, 0.0)?;
    }
    Ok(t)
}

/// out = y·(dy - s), s = Σ dy·y.  d(dy) = softmax_backward(y, G);  d(y) = G·(dy - s) - dy·Σ G·y.
fn softmax_backward_vjp(
    axis: usize,
    y: &Tensor,
    dy: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let a = [axis as isize];
    let s = dy.mul(y)?.sum(&a, true)?;
    let gy = g.mul(y)?.sum(&a, true)?;
    let d_y = g.mul(&dy.sub(&s)?)?.sub(&dy.mul(&gy)?)?;
    let d_dy = Tensor::from_op(Op::SoftmaxBackward { axis }, &[y, g])?;
    Ok(vec![Some(d_y), Some(d_dy)])
}

/// out = dy - exp(z)·S, S = Σ dy.  d(dy) = G - Σ G·exp(z);  d(z) = -G·exp(z)·S.
fn log_softmax_backward_vjp(
    axis: usize,
    z: &Tensor,
    dy: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let a = [axis as isize];
    let e = z.exp()?;
    let s = dy.sum(&a, true)?;
    let d_z = g.mul(&e)?.mul(&s)?.neg()?;
    let d_dy = g.sub(&g.mul(&e)?.sum(&a, true)?)?;
    Ok(vec![Some(d_z), Some(d_dy)])
}
