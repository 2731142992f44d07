//! `Param`: a shared, replaceable handle to a parameter tensor.
//!
//! A graph tensor is immutable, so an update cannot write into it: the optimizer builds the new value as a
//! new node, realizes it, and swaps the new leaf into the `Param`. Layers and the optimizer hold clones of the
//! same `Param`, so the layer sees the new value on its next forward pass. (The rejected alternative, a
//! `Tensor` field per layer that the optimizer overwrites through `&mut Module`, would tie the optimizer's
//! lifetime to a mutable borrow of the model for the whole training loop.)

use std::sync::{Arc, Mutex, MutexGuard};

use wgrad_graph::{DType, Error, Result, Tensor};

#[derive(Debug)]
struct Inner {
    name: String,
    trainable: bool,
    counter: bool,
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
        Param::with_kind(name.into(), value, trainable, false)
    }

    fn with_kind(name: String, value: Tensor, trainable: bool, counter: bool) -> Result<Param> {
        let leaf = to_leaf(&value, trainable)?;
        Ok(Param {
            inner: Arc::new(Inner {
                name,
                trainable,
                counter,
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

    /// A counter buffer (batch norm's `num_batches_tracked`): an `i32` tensor that checkpoints store as
    /// `int64`, PyTorch's dtype for it. wgrad has no 64-bit integer dtype, so loading converts the file's
    /// `int64` values (or `int32` ones) and refuses a value outside the `i32` range. Like PyTorch, which fills
    /// `num_batches_tracked` in for state dicts written before it existed, loading keeps the current value
    /// when the file does not hold the counter.
    ///
    /// # Errors
    /// `Error::DType` when `value` is not `i32`, and whatever realizing `value` raises.
    pub fn counter(name: impl Into<String>, value: Tensor) -> Result<Param> {
        if value.dtype() != DType::I32 {
            return Err(Error::dtype(
                "Param::counter",
                format!("a counter is i32, got {}", value.dtype()),
            ));
        }
        Param::with_kind(name.into(), value, false, true)
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

    /// Whether this is a [`Param::counter`]: `int64` in checkpoint files, and optional there.
    pub fn is_counter(&self) -> bool {
        self.inner.counter
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
