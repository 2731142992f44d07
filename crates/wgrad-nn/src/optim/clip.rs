//! Gradient clipping, by value and by global norm. Both build graph nodes, so a clipped step is still one
//! schedule (the norm is never read back to the host).

use wgrad_graph::{Result, Tensor};

/// How an optimizer clips gradients before its update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GradClip {
    /// Each element into `[-c, c]`.
    Value(f64),
    /// All gradients scaled together so their global L2 norm is at most `max_norm`.
    Norm(f64),
}

impl GradClip {
    pub fn apply(&self, grads: &[Tensor]) -> Result<Vec<Tensor>> {
        match *self {
            GradClip::Value(c) => clip_grad_value(grads, c),
            GradClip::Norm(n) => Ok(clip_grad_norm(grads, n)?.0),
        }
    }
}

/// `clamp(g, -c, c)` elementwise.
pub fn clip_grad_value(grads: &[Tensor], clip: f64) -> Result<Vec<Tensor>> {
    grads
        .iter()
        .map(|g| g.maximum(-clip)?.minimum(clip))
        .collect()
}

/// Scales every gradient by `min(1, max_norm / (‖g‖ + 1e-6))`, `‖g‖` the L2 norm over all of them (PyTorch's
/// `clip_grad_norm_`, including its 1e-6). Returns the clipped gradients and the (lazy) total norm, in the
/// first gradient's dtype.
pub fn clip_grad_norm(grads: &[Tensor], max_norm: f64) -> Result<(Vec<Tensor>, Tensor)> {
    let Some(first) = grads.first() else {
        return Err(wgrad_graph::Error::argument(
            "clip_grad_norm",
            "needs at least one gradient",
        ));
    };
    let dtype = first.dtype();
    let mut total = Tensor::scalar(0.0, dtype, first.device());
    for g in grads {
        total = total.add(&g.mul(g)?.sum_all()?.cast(dtype)?)?;
    }
    let norm = total.sqrt()?;
    let coef = norm.add(1e-6)?.recip()?.mul(max_norm)?.minimum(1.0)?;
    let clipped = grads
        .iter()
        .map(|g| g.mul(&coef.cast(g.dtype())?))
        .collect::<Result<_>>()?;
    Ok((clipped, norm))
}
