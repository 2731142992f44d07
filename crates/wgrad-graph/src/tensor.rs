//! `Tensor`: a cheap handle to a node of the lazy graph.
//!
//! A node records an op, its inputs and its output's shape and dtype. Nothing runs until a value is needed
//! (`realize`, `to_vec`, `item`). A realized node keeps its buffer and, unless gradients may still flow
//! through it, drops its inputs, so the graph of a long training loop never grows.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::buffer::View;
use crate::device::Device;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::infer::infer;
use crate::op::{Meta, Op, RandomDist};
use crate::shape::{Layout, Shape};

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether new nodes record gradient information on this thread.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Runs `f` with gradient recording off (PyTorch's `torch.no_grad()`): nodes built inside never require
/// grad, so evaluation and optimizer updates do not extend the graph.
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    let _guard = NoGradGuard::new();
    f()
}

/// Turns gradient recording off until dropped.
#[derive(Debug)]
pub struct NoGradGuard {
    previous: bool,
}

impl NoGradGuard {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(false));
        NoGradGuard { previous }
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

pub(crate) struct Node {
    /// Creation order; a node's inputs always have smaller ids (used for deterministic topological order).
    pub id: u64,
    pub op: Op,
    pub meta: Meta,
    pub device: Device,
    pub requires_grad: AtomicBool,
    pub state: Mutex<NodeState>,
}

#[derive(Default)]
pub(crate) struct NodeState {
    pub inputs: Vec<Tensor>,
    pub value: Option<View>,
    pub grad: Option<Tensor>,
}

/// A handle to a value in the lazy graph. Cloning is cheap (reference count); clones are the same tensor.
#[derive(Clone)]
pub struct Tensor {
    pub(crate) node: Arc<Node>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor#{}({} {} {}{})",
            self.node.id,
            self.node.op.name(),
            self.node.meta.shape,
            self.node.meta.dtype,
            if self.requires_grad() { ", grad" } else { "" }
        )
    }
}

impl Tensor {
    pub(crate) fn state(&self) -> MutexGuard<'_, NodeState> {
        self.node.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn new_node(
        op: Op,
        meta: Meta,
        inputs: Vec<Tensor>,
        device: Device,
        requires_grad: bool,
        value: Option<View>,
    ) -> Tensor {
        Tensor {
            node: Arc::new(Node {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                op,
                meta,
                device,
                requires_grad: AtomicBool::new(requires_grad),
                state: Mutex::new(NodeState {
                    inputs,
                    value,
                    grad: None,
                }),
            }),
        }
    }

    /// Records `op` applied to `inputs`: checks devices, infers the output, decides whether it needs grad.
    pub(crate) fn from_op(op: Op, inputs: &[&Tensor]) -> Result<Tensor> {
        let first = inputs
            .first()
            .ok_or_else(|| Error::argument(op.name(), "needs at least one input".to_string()))?;
        let device = first.device().clone();
        for t in &inputs[1..] {
            if !t.device().same(&device) {
                return Err(Error::DeviceMismatch {
                    op: op.name(),
                    lhs: device.name(),
                    rhs: t.device().name(),
                });
            }
        }
        let metas: Vec<&Meta> = inputs.iter().map(|t| &t.node.meta).collect();
        let meta = infer(&op, &metas)?;
        let requires_grad = is_grad_enabled()
            && meta.dtype.is_float()
            && op != Op::Detach
            && inputs.iter().any(|t| t.requires_grad());
        let inputs = inputs.iter().map(|&t| t.clone()).collect();
        Ok(Tensor::new_node(
            op,
            meta,
            inputs,
            device,
            requires_grad,
            None,
        ))
    }

    /// A source node (full, random) with no inputs.
    pub(crate) fn source(op: Op, meta: Meta, device: &Device) -> Tensor {
        Tensor::new_node(op, meta, Vec::new(), device.clone(), false, None)
    }

    // ----- constructors -----

    /// A tensor from host data in row-major order.
    pub fn from_vec<T: Element>(
        data: Vec<T>,
        shape: impl Into<Shape>,
        device: &Device,
    ) -> Result<Tensor> {
        Tensor::from_elements("from_vec", &data, shape.into(), device)
    }

    /// A tensor from host data in row-major order.
    pub fn from_slice<T: Element>(
        data: &[T],
        shape: impl Into<Shape>,
        device: &Device,
    ) -> Result<Tensor> {
        Tensor::from_elements("from_slice", data, shape.into(), device)
    }

    fn from_elements<T: Element>(
        op: &'static str,
        data: &[T],
        shape: Shape,
        device: &Device,
    ) -> Result<Tensor> {
        check_fill(op, data.len(), &shape)?;
        let mut bytes = Vec::with_capacity(data.len() * T::DTYPE.host_size());
        for &v in data {
            v.write_le(&mut bytes);
        }
        Tensor::from_bytes(&bytes, Meta::new(shape, T::DTYPE), device)
    }

    /// A tensor from host bytes in the dtype's host layout.
    pub fn from_bytes(bytes: &[u8], meta: Meta, device: &Device) -> Result<Tensor> {
        let expected = meta.numel() * meta.dtype.host_size();
        if bytes.len() != expected {
            return Err(Error::shape(
                "from_bytes",
                format!(
                    "{} bytes for {} {} (needs {expected})",
                    bytes.len(),
                    meta.shape,
                    meta.dtype
                ),
            ));
        }
        let buffer = device.backend().upload(bytes, &meta)?;
        let view = View {
            buffer,
            layout: Layout::contiguous(meta.shape.clone()),
            dtype: meta.dtype,
        };
        Ok(Tensor::new_node(
            Op::Leaf,
            meta,
            Vec::new(),
            device.clone(),
            false,
            Some(view),
        ))
    }

    /// A tensor from f64 values, rounded to `dtype`.
    pub fn from_f64(
        values: &[f64],
        shape: impl Into<Shape>,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        check_fill("from_f64", values.len(), &shape)?;
        let bytes = crate::dtype::encode_f64(values, dtype);
        Tensor::from_bytes(&bytes, Meta::new(shape, dtype), device)
    }

    /// A scalar (shape `[]`).
    pub fn scalar(value: f64, dtype: DType, device: &Device) -> Tensor {
        Tensor::full([], value, dtype, device)
    }

    /// Every element equal to `value`. Lazy: no upload.
    pub fn full(shape: impl Into<Shape>, value: f64, dtype: DType, device: &Device) -> Tensor {
        Tensor::source(
            Op::Full(dtype.round(value)),
            Meta::new(shape.into(), dtype),
            device,
        )
    }

    pub fn zeros(shape: impl Into<Shape>, dtype: DType, device: &Device) -> Tensor {
        Tensor::full(shape, 0.0, dtype, device)
    }

    pub fn ones(shape: impl Into<Shape>, dtype: DType, device: &Device) -> Tensor {
        Tensor::full(shape, 1.0, dtype, device)
    }

    pub fn zeros_like(&self) -> Tensor {
        Tensor::zeros(self.shape().clone(), self.dtype(), self.device())
    }

    pub fn ones_like(&self) -> Tensor {
        Tensor::ones(self.shape().clone(), self.dtype(), self.device())
    }

    pub fn full_like(&self, value: f64) -> Tensor {
        Tensor::full(self.shape().clone(), value, self.dtype(), self.device())
    }

    /// `start, start + step, …` below `end` (1-D).
    pub fn arange(
        start: f64,
        end: f64,
        step: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || (end - start) / step < 0.0 {
            return Err(Error::argument(
                "arange",
                format!("step {step} does not go from {start} to {end}"),
            ));
        }
        let n = ((end - start) / step).ceil() as usize;
        let values: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
        Tensor::from_f64(&values, [n], dtype, device)
    }

    /// A random source node. `stream = None` draws the next counters of the device's generator;
    /// `Some(seed)` uses that seed from counter 0, independent of the device's stream.
    fn random(
        shape: Shape,
        dist: RandomDist,
        dtype: DType,
        device: &Device,
        stream: Option<u64>,
    ) -> Result<Tensor> {
        if !dtype.is_float() {
            return Err(Error::dtype(
                "random",
                format!("dtype {dtype} not supported (float only)"),
            ));
        }
        let (seed, offset) = match stream {
            Some(seed) => (seed, 0),
            None => device.next_random(shape.numel() as u64),
        };
        Ok(Tensor::source(
            Op::Random { dist, seed, offset },
            Meta::new(shape, dtype),
            device,
        ))
    }

    /// Uniform in `[0, 1)` from the device's generator (see [`Device::manual_seed`]).
    pub fn rand(shape: impl Into<Shape>, dtype: DType, device: &Device) -> Result<Tensor> {
        Tensor::random(shape.into(), RandomDist::Uniform, dtype, device, None)
    }

    /// Standard normal from the device's generator.
    pub fn randn(shape: impl Into<Shape>, dtype: DType, device: &Device) -> Result<Tensor> {
        Tensor::random(shape.into(), RandomDist::Normal, dtype, device, None)
    }

    /// 1 with probability `p`, else 0, from the device's generator.
    pub fn bernoulli(
        shape: impl Into<Shape>,
        p: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::argument(
                "bernoulli",
                format!("p = {p} is not in [0, 1]"),
            ));
        }
        Tensor::random(
            shape.into(),
            RandomDist::Bernoulli { p },
            dtype,
            device,
            None,
        )
    }

    /// Uniform in `[0, 1)` from an explicit seed, independent of the device's stream.
    pub fn rand_seeded(
        shape: impl Into<Shape>,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        Tensor::random(shape.into(), RandomDist::Uniform, dtype, device, Some(seed))
    }

    /// Standard normal from an explicit seed.
    pub fn randn_seeded(
        shape: impl Into<Shape>,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        Tensor::random(shape.into(), RandomDist::Normal, dtype, device, Some(seed))
    }

    // ----- accessors -----

    pub fn shape(&self) -> &Shape {
        &self.node.meta.shape
    }
    pub fn dims(&self) -> &[usize] {
        self.node.meta.shape.dims()
    }
    pub fn rank(&self) -> usize {
        self.node.meta.shape.rank()
    }
    pub fn numel(&self) -> usize {
        self.node.meta.shape.numel()
    }
    pub fn dtype(&self) -> DType {
        self.node.meta.dtype
    }
    pub fn meta(&self) -> &Meta {
        &self.node.meta
    }
    pub fn device(&self) -> &Device {
        &self.node.device
    }
    /// The op that produced this tensor (`leaf` for user data).
    pub fn op(&self) -> &Op {
        &self.node.op
    }
    /// A process-unique id, increasing in creation order.
    pub fn id(&self) -> u64 {
        self.node.id
    }
    pub fn same(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.node, &other.node)
    }
    pub fn is_realized(&self) -> bool {
        self.state().value.is_some()
    }
    pub(crate) fn inputs(&self) -> Vec<Tensor> {
        self.state().inputs.clone()
    }

    // ----- gradients -----

    pub fn requires_grad(&self) -> bool {
        self.node.requires_grad.load(Ordering::Relaxed)
    }

    /// Marks a leaf (user data or a detached value) as a parameter whose gradient `backward` stores.
    pub fn set_requires_grad(&self, on: bool) -> Result<()> {
        if self.node.op != Op::Leaf {
            return Err(Error::argument(
                "requires_grad",
                format!(
                    "only leaves can change requires_grad; this is a {} node (detach it first)",
                    self.node.op.name()
                ),
            ));
        }
        if on && !self.dtype().is_float() {
            return Err(Error::dtype(
                "requires_grad",
                format!("dtype {} cannot have gradients", self.dtype()),
            ));
        }
        self.node.requires_grad.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Builder form of [`Tensor::set_requires_grad`]`(true)`. A pending source (`Tensor::ones`,
    /// `Tensor::randn`, …) is realized into a leaf first, so `Tensor::ones(..).with_grad()` works as
    /// PyTorch's `torch.ones(..., requires_grad=True)` does.
    pub fn with_grad(self) -> Result<Tensor> {
        let t = if matches!(self.node.op, Op::Full(_) | Op::Random { .. }) {
            self.realize()?.detach()
        } else {
            self
        };
        t.set_requires_grad(true)?;
        Ok(t)
    }

    /// The accumulated gradient from `backward`, if any (lazy until read).
    pub fn grad(&self) -> Option<Tensor> {
        self.state().grad.clone()
    }

    pub fn zero_grad(&self) {
        self.state().grad = None;
    }

    /// Replaces the stored gradient (PyTorch's `p.grad = g`); `None` drops it.
    pub fn set_grad(&self, grad: Option<Tensor>) {
        self.state().grad = grad;
    }

    /// The same value with gradients stopped. A realized tensor becomes a new leaf sharing its buffer (so it
    /// can be made a parameter); a pending one becomes a `detach` node.
    pub fn detach(&self) -> Tensor {
        if let Some(view) = self.state().value.clone() {
            return Tensor::new_node(
                Op::Leaf,
                self.node.meta.clone(),
                Vec::new(),
                self.device().clone(),
                false,
                Some(view),
            );
        }
        let inputs = vec![self.clone()];
        Tensor::new_node(
            Op::Detach,
            self.node.meta.clone(),
            inputs,
            self.device().clone(),
            false,
            None,
        )
    }
}

impl Tensor {
    /// Names of the ops in the pending graph behind this tensor (inputs first, each once). For tests that
    /// check coverage and for debugging; realized nodes end the walk.
    pub fn graph_op_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![self.clone()];
        while let Some(t) = stack.pop() {
            if !seen.insert(t.id()) {
                continue;
            }
            if !names.contains(&t.op().name()) {
                names.push(t.op().name());
            }
            stack.extend(t.inputs());
        }
        names
    }
}

/// `Err(Shape)` unless `len` values fill `shape`.
fn check_fill(op: &'static str, len: usize, shape: &Shape) -> Result<()> {
    if shape.numel() != len {
        return Err(Error::shape(
            op,
            format!(
                "{len} values do not fill shape {shape} ({} elements)",
                shape.numel()
            ),
        ));
    }
    Ok(())
}
