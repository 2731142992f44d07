//! Shape and dtype inference: the single place where the rules of every primitive live.
//!
//! It runs at graph-build time, before any backend sees the op, so bad shapes are an `Error` naming the op
//! and the shapes, never a panic in a kernel.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::{Conv2dParams, Meta, Op, Pool2dParams, ReduceOp, MAX_FUSED_HEAD_DIM};
use crate::shape::Shape;

fn float_only(op: &'static str, d: DType) -> Result<()> {
    if d.is_float() {
        Ok(())
    } else {
        Err(Error::dtype(
            op,
            format!("dtype {d} not supported (float only)"),
        ))
    }
}

fn arity(op: &Op, inputs: &[&Meta], n: usize) -> Result<()> {
    if inputs.len() != n {
        return Err(Error::argument(
            op.name(),
            format!("expects {n} inputs, got {}", inputs.len()),
        ));
    }
    Ok(())
}

fn same_shape(op: &'static str, a: &Meta, b: &Meta) -> Result<()> {
    if a.shape != b.shape {
        return Err(Error::shape(
            op,
            format!("shapes differ: lhs {}, rhs {}", a.shape, b.shape),
        ));
    }
    Ok(())
}

fn same_dtype(op: &'static str, a: &Meta, b: &Meta) -> Result<()> {
    if a.dtype != b.dtype {
        return Err(Error::dtype(
            op,
            format!("dtypes differ: lhs {}, rhs {}", a.dtype, b.dtype),
        ));
    }
    Ok(())
}

fn index_dtype(op: &'static str, d: DType) -> Result<()> {
    if d != DType::I32 {
        return Err(Error::dtype(
            op,
            format!("index dtype must be i32, got {d}"),
        ));
    }
    Ok(())
}

fn rank(op: &'static str, what: &str, m: &Meta, r: usize) -> Result<()> {
    if m.shape.rank() != r {
        return Err(Error::shape(
            op,
            format!("{what} must have rank {r}, got {}", m.shape),
        ));
    }
    Ok(())
}

fn axis_ok(op: &'static str, axis: usize, s: &Shape) -> Result<()> {
    if axis >= s.rank() {
        return Err(Error::Axis {
            op,
            msg: format!("dim {axis} out of range for shape {s}"),
        });
    }
    Ok(())
}

/// Infers the output of `op` applied to `inputs`, or says why it cannot be applied.
///
/// This is the single place where shape and dtype rules live; it runs at graph-build time, before any
/// backend sees the op. `Leaf`, `Full` and `Random` carry their output in the node and are not inferred here.
pub fn infer(op: &Op, inputs: &[&Meta]) -> Result<Meta> {
    let name = op.name();
    match op {
        Op::Leaf | Op::Full(_) | Op::Random { .. } => Err(Error::argument(
            name,
            "source ops carry their own shape".to_string(),
        )),
        Op::Unary(u) => {
            arity(op, inputs, 1)?;
            let x = inputs[0];
            if !(x.dtype.is_float() || (u.allows_int() && x.dtype.is_int())) {
                return Err(Error::dtype(
                    name,
                    format!("dtype {} not supported (float only)", x.dtype),
                ));
            }
            Ok(x.clone())
        }
        Op::Cast(d) => {
            arity(op, inputs, 1)?;
            Ok(Meta::new(inputs[0].shape.clone(), *d))
        }
        Op::Binary(b) => {
            arity(op, inputs, 2)?;
            let (l, r) = (inputs[0], inputs[1]);
            same_shape(name, l, r)?;
            same_dtype(name, l, r)?;
            if l.dtype == DType::Bool && !b.allows_bool() {
                return Err(Error::dtype(name, "dtype bool not supported".to_string()));
            }
            if l.dtype.is_int() && !b.allows_int() {
                float_only(name, l.dtype)?;
            }
            let dtype = if b.is_comparison() {
                DType::Bool
            } else {
                l.dtype
            };
            Ok(Meta::new(l.shape.clone(), dtype))
        }
        Op::Where => {
            arity(op, inputs, 3)?;
            let (c, a, b) = (inputs[0], inputs[1], inputs[2]);
            if c.dtype != DType::Bool {
                return Err(Error::dtype(
                    name,
                    format!("condition must be bool, got {}", c.dtype),
                ));
            }
            same_shape(name, a, b)?;
            same_shape(name, c, a)?;
            same_dtype(name, a, b)?;
            Ok(a.clone())
        }
        Op::Reduce { op: r, axes } => {
            arity(op, inputs, 1)?;
            let x = inputs[0];
            let mut shape = x.shape.0.clone();
            for (i, &a) in axes.iter().enumerate() {
                axis_ok(name, a, &x.shape)?;
                if i > 0 && axes[i - 1] >= a {
                    return Err(Error::argument(
                        name,
                        format!("axes must be sorted and distinct, got {axes:?}"),
                    ));
                }
                if x.shape.0[a] == 0 && !matches!(r, ReduceOp::Sum) {
                    return Err(Error::shape(
                        name,
                        format!("cannot reduce empty dim {a} of shape {}", x.shape),
                    ));
                }
                shape[a] = 1;
            }
            let dtype = match r {
                ReduceOp::ArgMax | ReduceOp::ArgMin => {
                    if axes.len() != 1 {
                        return Err(Error::argument(
                            name,
                            format!("needs exactly one axis, got {axes:?}"),
                        ));
                    }
                    DType::I32
                }
                ReduceOp::Sum if x.dtype == DType::Bool => {
                    return Err(Error::dtype(name, "dtype bool not supported".to_string()))
                }
                _ => x.dtype,
            };
            Ok(Meta::new(shape, dtype))
        }
        Op::Reshape(s) => {
            arity(op, inputs, 1)?;
            let x = inputs[0];
            if s.numel() != x.numel() {
                return Err(Error::shape(
                    name,
                    format!(
                        "{} has {} elements, {} has {}",
                        x.shape,
                        x.numel(),
                        s,
                        s.numel()
                    ),
                ));
            }
            Ok(Meta::new(s.clone(), x.dtype))
        }
        Op::Permute(p) => {
            arity(op, inputs, 1)?;
            let x = inputs[0];
            let mut seen = vec![false; x.shape.rank()];
            let valid = p.len() == x.shape.rank()
                && p.iter()
                    .all(|&i| i < seen.len() && !std::mem::replace(&mut seen[i], true));
            if !valid {
                return Err(Error::Axis {
                    op: name,
                    msg: format!("{p:?} is not a permutation of the axes of {}", x.shape),
                });
            }
            Ok(Meta::new(
                p.iter().map(|&i| x.shape.0[i]).collect::<Vec<_>>(),
                x.dtype,
            ))
        }
        Op::Expand(s) => {
            arity(op, inputs, 1)?;
            let x = inputs[0];
            let extra = s.rank().checked_sub(x.shape.rank());
            let ok = extra.is_some_and(|e| {
                x.shape
                    .0
                    .iter()
                    .zip(&s.0[e..])
                    .all(|(&a, &b)| a == b || a == 1)
            });
            if !ok {
                return Err(Error::shape(
                    name,
                    format!("cannot expand {} to {}", x.shape, s),
                ));
            }
            Ok(Meta::new(s.clone(), x.dtype))
        }
        Op::Slice {
            starts,
            ends,
            steps,
        } => {
            arity(op, inputs, 1)?;
            let x = inputs[0];
            let r = x.shape.rank();
            if starts.len() != r || ends.len() != r || steps.len() != r {
                return Err(Error::argument(
                    name,
                    format!("needs one start, end and step per axis of {}", x.shape),
                ));
            }
            let mut out = Vec::with_capacity(r);
            for i in 0..r {
                let d = x.shape.0[i];
                if starts[i] > ends[i] || ends[i] > d || steps[i] == 0 {
                    return Err(Error::index(
                        name,
                        format!(
                            "range {}..{} step {} out of bounds for dim {i} of shape {}",
                            starts[i], ends[i], steps[i], x.shape
                        ),
                    ));
                }
                out.push((ends[i] - starts[i]).div_ceil(steps[i]));
            }
            Ok(Meta::new(out, x.dtype))
        }
        Op::Pad { before, after, .. } => {
            arity(op, inputs, 1)?;
            let x = inputs[0];
            if before.len() != x.shape.rank() || after.len() != x.shape.rank() {
                return Err(Error::argument(
                    name,
                    format!("needs one (before, after) per axis of {}", x.shape),
                ));
            }
            let out: Vec<usize> = (0..x.shape.rank())
                .map(|i| x.shape.0[i] + before[i] + after[i])
                .collect();
            Ok(Meta::new(out, x.dtype))
        }
        Op::Cat { axis } => {
            let first = inputs
                .first()
                .ok_or_else(|| Error::argument(name, "needs at least one tensor".to_string()))?;
            axis_ok(name, *axis, &first.shape)?;
            let mut out = first.shape.0.clone();
            out[*axis] = 0;
            for m in inputs {
                same_dtype(name, first, m)?;
                let ok = m.shape.rank() == first.shape.rank()
                    && (0..out.len()).all(|i| i == *axis || m.shape.0[i] == first.shape.0[i]);
                if !ok {
                    return Err(Error::shape(
                        name,
                        format!(
                            "shapes differ outside dim {axis}: {} and {}",
                            first.shape, m.shape
                        ),
                    ));
                }
                out[*axis] += m.shape.0[*axis];
            }
            Ok(Meta::new(out, first.dtype))
        }
        Op::Gather { axis } => {
            arity(op, inputs, 2)?;
            let (x, idx) = (inputs[0], inputs[1]);
            index_dtype(name, idx.dtype)?;
            axis_ok(name, *axis, &x.shape)?;
            let ok = idx.shape.rank() == x.shape.rank()
                && (0..x.shape.rank()).all(|i| i == *axis || idx.shape.0[i] <= x.shape.0[i]);
            if !ok {
                return Err(Error::shape(
                    name,
                    format!(
                        "index {} must have the rank of x {} and no larger dims outside dim {axis}",
                        idx.shape, x.shape
                    ),
                ));
            }
            Ok(Meta::new(idx.shape.clone(), x.dtype))
        }
        Op::ScatterAdd { axis, shape } => {
            arity(op, inputs, 2)?;
            let (idx, src) = (inputs[0], inputs[1]);
            index_dtype(name, idx.dtype)?;
            same_shape(name, idx, src)?;
            axis_ok(name, *axis, shape)?;
            let ok = src.shape.rank() == shape.rank()
                && (0..shape.rank()).all(|i| i == *axis || src.shape.0[i] <= shape.0[i]);
            if !ok {
                return Err(Error::shape(
                    name,
                    format!("src {} does not fit into {}", src.shape, shape),
                ));
            }
            Ok(Meta::new(shape.clone(), src.dtype))
        }
        Op::Matmul => {
            arity(op, inputs, 2)?;
            let (l, r) = (inputs[0], inputs[1]);
            same_dtype(name, l, r)?;
            if l.shape.rank() != 3 || r.shape.rank() != 3 || l.shape.0[0] != r.shape.0[0] {
                return Err(Error::shape(
                    name,
                    format!(
                        "primitive needs [b, m, k] and [b, k, n], got lhs {}, rhs {}",
                        l.shape, r.shape
                    ),
                ));
            }
            if l.shape.0[2] != r.shape.0[1] {
                return Err(Error::shape(
                    name,
                    format!(
                        "inner dims differ: lhs {}, rhs {} ({} != {})",
                        l.shape, r.shape, l.shape.0[2], r.shape.0[1]
                    ),
                ));
            }
            if l.dtype == DType::Bool {
                return Err(Error::dtype(name, "dtype bool not supported".to_string()));
            }
            Ok(Meta::new(
                [l.shape.0[0], l.shape.0[1], r.shape.0[2]],
                l.dtype,
            ))
        }
        Op::Conv2d(p) => {
            arity(op, inputs, 2)?;
            let (x, w) = (inputs[0], inputs[1]);
            conv_check(name, p, x, w)?;
            let (kh, kw) = (w.shape.0[2], w.shape.0[3]);
            let oh = p.out_size(0, x.shape.0[2], kh);
            let ow = p.out_size(1, x.shape.0[3], kw);
            match (oh, ow) {
                (Some(oh), Some(ow)) => {
                    Ok(Meta::new([x.shape.0[0], w.shape.0[0], oh, ow], x.dtype))
                }
                _ => Err(Error::shape(
                    name,
                    format!(
                        "kernel {} larger than padded input {} (padding {:?}, dilation {:?})",
                        w.shape, x.shape, p.padding, p.dilation
                    ),
                )),
            }
        }
        Op::Conv2dBackwardInput { params, input_hw } => {
            arity(op, inputs, 2)?;
            let (dy, w) = (inputs[0], inputs[1]);
            same_dtype(name, dy, w)?;
            float_only(name, dy.dtype)?;
            rank(name, "dy", dy, 4)?;
            rank(name, "weight", w, 4)?;
            let c_in = w.shape.0[1] * params.groups;
            let x = Meta::new([dy.shape.0[0], c_in, input_hw[0], input_hw[1]], dy.dtype);
            let y = infer(&Op::Conv2d(*params), &[&x, w])?;
            same_shape(name, &y, dy)?;
            Ok(x)
        }
        Op::Conv2dBackwardWeight { params, kernel_hw } => {
            arity(op, inputs, 2)?;
            let (x, dy) = (inputs[0], inputs[1]);
            same_dtype(name, x, dy)?;
            rank(name, "x", x, 4)?;
            rank(name, "dy", dy, 4)?;
            if params.groups == 0 || x.shape.0[1] % params.groups != 0 {
                return Err(Error::shape(
                    name,
                    format!(
                        "x {} channels not divisible by groups {}",
                        x.shape, params.groups
                    ),
                ));
            }
            let w = Meta::new(
                [
                    dy.shape.0[1],
                    x.shape.0[1] / params.groups,
                    kernel_hw[0],
                    kernel_hw[1],
                ],
                x.dtype,
            );
            let y = infer(&Op::Conv2d(*params), &[x, &w])?;
            same_shape(name, &y, dy)?;
            Ok(w)
        }
        Op::MaxPool2d(p) | Op::AvgPool2d(p) => {
            arity(op, inputs, 1)?;
            pool_out(name, p, inputs[0])
        }
        Op::MaxPool2dBackward(p) => {
            arity(op, inputs, 2)?;
            let (x, dy) = (inputs[0], inputs[1]);
            let y = pool_out(name, p, x)?;
            same_shape(name, &y, dy)?;
            same_dtype(name, x, dy)?;
            Ok(x.clone())
        }
        Op::AvgPool2dBackward { params, input_hw } => {
            arity(op, inputs, 1)?;
            let dy = inputs[0];
            rank(name, "dy", dy, 4)?;
            let x = Meta::new(
                [dy.shape.0[0], dy.shape.0[1], input_hw[0], input_hw[1]],
                dy.dtype,
            );
            let y = pool_out(name, params, &x)?;
            same_shape(name, &y, dy)?;
            Ok(x)
        }
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            arity(op, inputs, 1)?;
            float_only(name, inputs[0].dtype)?;
            axis_ok(name, *axis, &inputs[0].shape)?;
            Ok(inputs[0].clone())
        }
        Op::SoftmaxBackward { axis } | Op::LogSoftmaxBackward { axis } => {
            arity(op, inputs, 2)?;
            let (y, dy) = (inputs[0], inputs[1]);
            float_only(name, y.dtype)?;
            same_shape(name, y, dy)?;
            same_dtype(name, y, dy)?;
            axis_ok(name, *axis, &y.shape)?;
            Ok(y.clone())
        }
        Op::Copy | Op::Detach => {
            arity(op, inputs, 1)?;
            Ok(inputs[0].clone())
        }
        Op::Attention(_) | Op::AttentionBackwardQ(_) | Op::AttentionBackwardKv(_) => {
            attention(op, inputs)
        }
    }
}

/// The attention primitives: `(q, k, v[, mask])` forward, `(q, k, v, stats, dout[, mask])` backward.
fn attention(op: &Op, inputs: &[&Meta]) -> Result<Meta> {
    let name = op.name();
    let forward = matches!(op, Op::Attention(_));
    let base = if forward { 3 } else { 5 };
    if inputs.len() != base && inputs.len() != base + 1 {
        let want = format!("{base} or {}", base + 1);
        return Err(Error::argument(
            name,
            format!("expects {want} inputs, got {}", inputs.len()),
        ));
    }
    let (q, k, v) = (inputs[0], inputs[1], inputs[2]);
    let names: &[&str] = match forward {
        true => &["q", "k", "v", "mask"],
        false => &["q", "k", "v", "stats", "dout", "mask"],
    };
    for (what, m) in names.iter().zip(inputs) {
        rank(name, what, m, 4)?;
        same_dtype(name, q, m)?;
    }
    float_only(name, q.dtype)?;
    let [n, h, tq, d] = [q.shape.0[0], q.shape.0[1], q.shape.0[2], q.shape.0[3]];
    let (tk, dv) = (k.shape.0[2], v.shape.0[3]);
    let fits = |m: &Meta, want: [usize; 4]| m.shape.0 == want;
    if !fits(k, [n, h, tk, d]) || !fits(v, [n, h, tk, dv]) {
        return Err(Error::shape(
            name,
            format!(
                "q {}, k {}, v {} are not [n, h, tq, d], [n, h, tk, d], [n, h, tk, dv]",
                q.shape, k.shape, v.shape
            ),
        ));
    }
    if d == 0 || d > MAX_FUSED_HEAD_DIM || dv == 0 || dv > MAX_FUSED_HEAD_DIM {
        return Err(Error::shape(
            name,
            format!("head dims d = {d}, dv = {dv} must be in 1..={MAX_FUSED_HEAD_DIM}"),
        ));
    }
    if let Some(mask) = inputs.get(base).filter(|m| !fits(m, [n, h, tq, tk])) {
        return Err(Error::shape(
            name,
            format!(
                "mask {} is not [n, h, tq, tk] = {:?}",
                mask.shape,
                [n, h, tq, tk]
            ),
        ));
    }
    if !forward && (!fits(inputs[3], [n, h, tq, 2]) || !fits(inputs[4], [n, h, tq, dv])) {
        return Err(Error::shape(
            name,
            format!(
                "stats {} and dout {} are not [n, h, tq, 2] and [n, h, tq, dv] for q {}, v {}",
                inputs[3].shape, inputs[4].shape, q.shape, v.shape
            ),
        ));
    }
    let shape = match op {
        Op::Attention(_) => [n, h, tq, dv + 1],
        Op::AttentionBackwardQ(_) => [n, h, tq, d],
        _ => [n, h, tk, d + dv],
    };
    Ok(Meta::new(shape, q.dtype))
}

fn conv_check(name: &'static str, p: &Conv2dParams, x: &Meta, w: &Meta) -> Result<()> {
    same_dtype(name, x, w)?;
    float_only(name, x.dtype)?;
    rank(name, "input", x, 4)?;
    rank(name, "weight", w, 4)?;
    if p.groups == 0 || p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err(Error::argument(
            name,
            format!(
                "stride {:?}, dilation {:?} and groups {} must be positive",
                p.stride, p.dilation, p.groups
            ),
        ));
    }
    let (c_in, c_out) = (x.shape.0[1], w.shape.0[0]);
    if c_in % p.groups != 0 || c_out % p.groups != 0 || w.shape.0[1] * p.groups != c_in {
        return Err(Error::shape(
            name,
            format!(
                "input {} and weight {} disagree on channels (groups {}: weight dim 1 must be {}/{})",
                x.shape, w.shape, p.groups, c_in, p.groups
            ),
        ));
    }
    if w.shape.0[2] == 0 || w.shape.0[3] == 0 {
        return Err(Error::shape(name, format!("empty kernel {}", w.shape)));
    }
    Ok(())
}

fn pool_out(name: &'static str, p: &Pool2dParams, x: &Meta) -> Result<Meta> {
    rank(name, "input", x, 4)?;
    float_only(name, x.dtype)?;
    if p.padding[0] * 2 > p.kernel[0] || p.padding[1] * 2 > p.kernel[1] {
        return Err(Error::argument(
            name,
            format!(
                "padding {:?} must be at most half the kernel {:?}",
                p.padding, p.kernel
            ),
        ));
    }
    match (p.out_size(0, x.shape.0[2]), p.out_size(1, x.shape.0[3])) {
        (Some(oh), Some(ow)) => Ok(Meta::new([x.shape.0[0], x.shape.0[1], oh, ow], x.dtype)),
        _ => Err(Error::shape(
            name,
            format!(
                "kernel {:?} stride {:?} does not fit input {}",
                p.kernel, p.stride, x.shape
            ),
        )),
    }
}
