//! [`run_schedule`]: the walk over a schedule every backend shares (slot table, argument lookup, dispatch
//! to the [`Kernels`] family methods, buffer release).

use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::kernels::{Input, Kernels};
use crate::op::{Meta, Op};
use crate::schedule::{Kernel, Schedule};

/// Executes a schedule on `kernels`, releasing each buffer after its last use.
pub fn run_schedule<K: Kernels + ?Sized>(
    kernels: &mut K,
    schedule: &Schedule,
) -> Result<Vec<Buffer>> {
    let mut slots: Vec<Option<Buffer>> = vec![None; schedule.slot_count];
    for (i, b) in schedule.inputs.iter().enumerate() {
        slots[i] = Some(b.clone());
    }
    for step in &schedule.steps {
        let buffer = {
            let args = step
                .args
                .iter()
                .map(|a| {
                    let buffer = slots[a.slot].as_ref().ok_or_else(|| Error::Backend {
                        backend: "schedule",
                        msg: format!("{}: slot {} read after release", step.kernel.name(), a.slot),
                    })?;
                    Ok(Input {
                        buffer,
                        layout: &a.layout,
                        dtype: a.dtype,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            dispatch(kernels, &step.kernel, &args, &step.meta)?
        };
        slots[step.out] = Some(buffer);
        for &r in &step.release {
            slots[r] = None;
        }
    }
    schedule
        .outputs
        .iter()
        .map(|&s| {
            slots[s].clone().ok_or_else(|| Error::Backend {
                backend: "schedule",
                msg: format!("output slot {s} was never written"),
            })
        })
        .collect()
}

fn dispatch<K: Kernels + ?Sized>(
    k: &mut K,
    kernel: &Kernel,
    a: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    let op = match kernel {
        Kernel::Fused(expr) => return k.fused(expr, a, out),
        Kernel::Op(op) => op,
    };
    match op {
        Op::Full(v) => k.full(*v, out),
        Op::Random { dist, seed, offset } => k.random(*dist, *seed, *offset, out),
        Op::Unary(u) => k.unary(*u, a[0], out),
        Op::Cast(_) => k.cast(a[0], out),
        Op::Binary(b) => k.binary(*b, a[0], a[1], out),
        Op::Where => k.where_(a[0], a[1], a[2], out),
        Op::Reduce { op, axes } => k.reduce(*op, axes, a[0], out),
        Op::Copy | Op::Reshape(_) => k.copy(a[0], out),
        Op::Pad { before, value, .. } => k.pad(before, *value, a[0], out),
        Op::Cat { axis } => k.cat(*axis, a, out),
        Op::Gather { axis } => k.gather(*axis, a[0], a[1], out),
        Op::ScatterAdd { axis, .. } => k.scatter_add(*axis, a[0], a[1], out),
        Op::Matmul => k.matmul(a[0], a[1], out),
        Op::Conv2d(p) => k.conv2d(p, a[0], a[1], out),
        Op::Conv2dBackwardInput { params, .. } => k.conv2d_backward_input(params, a[0], a[1], out),
        Op::Conv2dBackwardWeight { params, .. } => {
            k.conv2d_backward_weight(params, a[0], a[1], out)
        }
        Op::MaxPool2d(p) => k.max_pool2d(p, a[0], out),
        Op::MaxPool2dBackward(p) => k.max_pool2d_backward(p, a[0], a[1], out),
        Op::AvgPool2d(p) => k.avg_pool2d(p, a[0], out),
        Op::AvgPool2dBackward { params, .. } => k.avg_pool2d_backward(params, a[0], out),
        Op::Softmax { axis } => k.softmax(*axis, false, a[0], out),
        Op::LogSoftmax { axis } => k.softmax(*axis, true, a[0], out),
        Op::SoftmaxBackward { axis } => k.softmax_backward(*axis, false, a[0], a[1], out),
        Op::LogSoftmaxBackward { axis } => k.softmax_backward(*axis, true, a[0], a[1], out),
        Op::Attention(p) => k.attention(p, a, out),
        Op::AttentionBackwardQ(p) => k.attention_backward_q(p, a, out),
        Op::AttentionBackwardKv(p) => k.attention_backward_kv(p, a, out),
        Op::Leaf | Op::Permute(_) | Op::Expand(_) | Op::Slice { .. } | Op::Detach => {
            Err(Error::Backend {
                backend: "schedule",
                msg: format!("{} is not a kernel", op.name()),
            })
        }
    }
}
