//! `Param`: a shared, replaceable handle to a parameter tensor.
//!
//! A graph tensor is immutable, so an update cannot write into it: the optimizer builds the new value as a
//! new node, realizes it, and swaps the new leaf into the `Param`. Layers and the optimizer hold clones of the
//! same `Param`, so the layer sees the new value on its next forward pass. (The rejected alternative, a
//! `Tensor` field per layer that the optimizer overwrites through `&mut Module`, would tie the optimizer's
//! lifetime to a mutable borrow of the model for the whole training loop.)

use std::sync::{Arc, Mutex, MutexGuard};

use wgrad_graph::{Result, Tensor};

#[derive(Debug)]
struct Inner {
    name: String,
    trainable: bool,
    tensor: Mutex<Tensor>,
}

/// A named parameter or buffer of a module. Clones are the same parameter (compare with [`Param::same`]).
///
/// `trainable = false` marks state that is not learned by gradient descent but still changes during training
/// (batch-norm running statistics): the optimizer realizes its pending value in the same schedule as the
/// update, and checkpoints save it.
#[derive(Clone, Debug)]
pub struct Param {
    inner: Arc<Inner>,
}

impl Param {
    /// A parameter holding `value`. The value is realized (one small schedule, at model construction) and
    /// becomes a leaf; a trainable one gets `requires_grad`.
    pub fn new(name: impl Into<String>, value: Tensor, trainable: bool) -> Result<Param> {
        let leaf = to_leaf(&value, trainable)?;
        Ok(Param {
            inner: Arc::new(Inner {
                name: name.into(),
                trainable,
                tensor: Mutex::new(leaf),
            }),
        })
    }

    /// A trainable parameter.
    pub fn trainable(name: impl Into<String>, value: Tensor) -> Result<Param> {
        Param::new(name, value, true)
    }

    /// A buffer: state that is saved and updated, but gets no gradient.
    pub fn buffer(name: impl Into<String>, value: Tensor) -> Result<Param> {
        Param::new(name, value, false)
    }

    fn lock(&self) -> MutexGuard<'_, Tensor> {
        self.inner.tensor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The local name given at construction (`weight`); modules add the path (`conv1.weight`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn is_trainable(&self) -> bool {
        self.inner.trainable
    }

    /// The current value (a cheap handle). For a buffer it may be a pending graph node.
    pub fn tensor(&self) -> Tensor {
        self.lock().clone()
    }

    /// Replaces the value without realizing it. Layers use this for buffers (running statistics): the value
    /// is [`wgrad_graph::defer`]red, so the next realize on its device (the optimizer's step, reading the
    /// loss) computes it, and a chain of pending updates never grows.
    pub fn set_pending(&self, value: Tensor) {
        wgrad_graph::defer(&value);
        *self.lock() = value;
    }

    /// Replaces the value with a realized leaf of `value` (realizing it now if it is pending).
    pub fn set(&self, value: &Tensor) -> Result<()> {
        let leaf = to_leaf(value, self.inner.trainable)?;
        *self.lock() = leaf;
        Ok(())
    }

    /// Turns a pending value into a realized leaf (no-op when it already is one).
    pub fn commit(&self) -> Result<()> {
        let t = self.tensor();
        if t.is_realized() && *t.op() == wgrad_graph::Op::Leaf {
            return Ok(());
        }
        self.set(&t)
    }

    /// The gradient stored by the last `backward`, if any.
    pub fn grad(&self) -> Option<Tensor> {
        self.lock().grad()
    }

    pub fn zero_grad(&self) {
        self.lock().zero_grad();
    }

    /// Replaces the stored gradient (what `backward` accumulates into).
    pub fn set_grad(&self, grad: Option<Tensor>) {
        self.lock().set_grad(grad);
    }

    pub fn numel(&self) -> usize {
        self.lock().numel()
    }

    /// Whether two handles are the same parameter.
    pub fn same(&self, other: &Param) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// A realized leaf sharing `value`'s buffer, with `requires_grad` set as asked.
pub(crate) fn to_leaf(value: &Tensor, trainable: bool) -> Result<Tensor> {
    value.realize()?;
    let leaf = value.detach();
    if trainable {
        leaf.set_requires_grad(true)?;
    }
    Ok(leaf)
}
