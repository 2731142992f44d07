//! The contract between the graph and the devices that execute it.
//!
//! `realize` turns pending nodes into a [`Schedule`]: kernel launches in topological order, each reading
//! strided views of earlier results, plus the point after which each buffer is no longer needed. A backend
//! executes a whole schedule at once (the wgpu backend records it into one command encoder and one submit).
//!
//! Backends implement [`Kernels`], one method per op family, and get the walk over the schedule, the slot
//! table and buffer release from [`run_schedule`], so that logic exists once.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::fuse::{FusedExpr, Node};
use crate::op::{BinaryOp, Conv2dParams, Meta, Op, Pool2dParams, RandomDist, ReduceOp, UnaryOp};
use crate::shape::{Layout, Shape};

/// Device memory owned by a backend. Cheap to clone; freed (or returned to a pool) when the last clone drops.
#[derive(Clone, Debug)]
pub struct Buffer(Arc<dyn BufferImpl>);

/// What a backend's buffer type provides so the graph can hold it without knowing it.
pub trait BufferImpl: Any + Send + Sync + Debug {
    /// Size in bytes.
    fn byte_size(&self) -> usize;
    fn as_any(&self) -> &dyn Any;
}

impl Buffer {
    pub fn new(inner: impl BufferImpl) -> Self {
        Buffer(Arc::new(inner))
    }
    pub fn byte_size(&self) -> usize {
        self.0.byte_size()
    }
    /// The backend's own buffer type, or `None` if this buffer belongs to another backend.
    pub fn downcast<T: BufferImpl>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }
    /// True when both handles point at the same allocation.
    pub fn same(&self, other: &Buffer) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A realized value: a buffer and how the value's elements sit in it.
#[derive(Clone, Debug)]
pub struct View {
    pub buffer: Buffer,
    pub layout: Layout,
    pub dtype: DType,
}

/// Index of a buffer slot in a schedule.
pub type Slot = usize;

/// A kernel input: the slot holding the buffer and the view of it the kernel reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub slot: Slot,
    pub layout: Layout,
    pub dtype: DType,
}

/// One kernel launch.
#[derive(Clone, Debug)]
pub struct Step {
    pub op: Op,
    pub args: Vec<Arg>,
    /// The slot that receives the fresh, contiguous output buffer.
    pub out: Slot,
    pub meta: Meta,
    /// Slots whose buffers are no longer needed after this step.
    pub release: Vec<Slot>,
}

/// A realize request: buffers that exist already, kernel launches, and the slots the caller wants back.
#[derive(Clone, Debug, Default)]
pub struct Schedule {
    /// Slots `0..inputs.len()` hold these buffers when execution starts.
    pub inputs: Vec<Buffer>,
    pub steps: Vec<Step>,
    pub slot_count: usize,
    /// Slots to return, in order.
    pub outputs: Vec<Slot>,
}

/// A device that can hold buffers and execute schedules.
/// A boxed, sendable future (what [`Backend::download_async`] returns; trait methods cannot be `async` and
/// stay object-safe).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

pub trait Backend: Send + Sync + Debug {
    /// Human-readable name: `cpu` or e.g. `wgpu vulkan: NVIDIA H100 (DiscreteGpu)`.
    fn name(&self) -> String;
    /// Copies host bytes (`meta.dtype`'s host layout, row-major) into a new buffer.
    fn upload(&self, bytes: &[u8], meta: &Meta) -> Result<Buffer>;
    /// Reads a contiguous view back as host bytes (row-major, `dtype`'s host layout).
    fn download(&self, view: &View) -> Result<Vec<u8>>;
    /// [`Backend::download`] as a future that does not block the thread polling it while the device works
    /// (a GPU backend resolves it from its map callback). The default, for backends whose memory is the
    /// host's, is the blocking download.
    fn download_async<'a>(&'a self, view: &'a View) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(std::future::ready(self.download(view)))
    }
    /// Runs every step and returns the buffers of `schedule.outputs`.
    fn execute(&self, schedule: &Schedule) -> Result<Vec<Buffer>>;
    /// Whether the backend can compute in this dtype (uploads and downloads of every dtype always work).
    fn supports(&self, dtype: DType) -> bool;
    /// Whether `realize` should merge elementwise chains into [`Op::Fused`] steps ([`crate::fuse`]) for
    /// this backend. Off by default: the CPU reference runs every op on its own.
    fn fuses_elementwise(&self) -> bool {
        false
    }
}

/// A kernel input handed to a [`Kernels`] method.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub buffer: &'a Buffer,
    pub layout: &'a Layout,
    pub dtype: DType,
}

impl Input<'_> {
    pub fn shape(&self) -> &Shape {
        &self.layout.shape
    }
}

/// One method per op family. Inputs of ops that do not read strided views (see [`Op::reads_strided`]) are
/// contiguous; every output is a fresh contiguous buffer of `out`.
#[allow(missing_docs)]
pub trait Kernels {
    /// A fused elementwise chain ([`crate::fuse`]). The default runs its nodes one by one with this
    /// backend's own `unary`/`binary`/`where_`, so results equal the unfused steps'; a backend that reports
    /// [`Backend::fuses_elementwise`] overrides it with one kernel.
    fn fused(&mut self, expr: &FusedExpr, args: &[Input], out: &Meta) -> Result<Buffer> {
        let shape = out.shape.clone();
        let layout = Layout::contiguous(shape.clone());
        let mut values: Vec<Buffer> = Vec::with_capacity(expr.nodes.len());
        for (node, dtype) in &expr.nodes {
            let meta = Meta::new(shape.clone(), *dtype);
            let at = |i: usize| Input {
                buffer: &values[i],
                layout: &layout,
                dtype: expr.nodes[i].1,
            };
            // a leaf is an argument (any layout); other operands are earlier nodes (contiguous)
            let input = |i: usize| match expr.nodes[i].0 {
                Node::Leaf(k) => args[k],
                _ => at(i),
            };
            let value = match node {
                Node::Leaf(k) => {
                    // placeholder so node indices line up; leaves are read through `input`
                    args[*k].buffer.clone()
                }
                Node::Unary(op, a) => self.unary(*op, input(*a), &meta)?,
                Node::Binary(op, a, b) => self.binary(*op, input(*a), input(*b), &meta)?,
                Node::Where(c, a, b) => self.where_(input(*c), input(*a), input(*b), &meta)?,
            };
            values.push(value);
        }
        values
            .pop()
            .ok_or_else(|| Error::argument("fused", "empty expression"))
    }
    fn full(&mut self, value: f64, out: &Meta) -> Result<Buffer>;
    fn random(&mut self, dist: RandomDist, seed: u64, offset: u64, out: &Meta) -> Result<Buffer>;
    fn unary(&mut self, op: UnaryOp, x: Input, out: &Meta) -> Result<Buffer>;
    fn cast(&mut self, x: Input, out: &Meta) -> Result<Buffer>;
    fn binary(&mut self, op: BinaryOp, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer>;
    fn where_(&mut self, cond: Input, a: Input, b: Input, out: &Meta) -> Result<Buffer>;
    fn reduce(&mut self, op: ReduceOp, axes: &[usize], x: Input, out: &Meta) -> Result<Buffer>;
    fn copy(&mut self, x: Input, out: &Meta) -> Result<Buffer>;
    fn pad(&mut self, before: &[usize], value: f64, x: Input, out: &Meta) -> Result<Buffer>;
    fn concat(&mut self, axis: usize, xs: &[Input], out: &Meta) -> Result<Buffer>;
    fn gather(&mut self, axis: usize, x: Input, index: Input, out: &Meta) -> Result<Buffer>;
    fn scatter_add(&mut self, axis: usize, index: Input, src: Input, out: &Meta) -> Result<Buffer>;
    fn matmul(&mut self, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer>;
    fn conv2d(&mut self, p: &Conv2dParams, x: Input, w: Input, out: &Meta) -> Result<Buffer>;
    fn conv2d_backward_input(
        &mut self,
        p: &Conv2dParams,
        dy: Input,
        w: Input,
        out: &Meta,
    ) -> Result<Buffer>;
    fn conv2d_backward_weight(
        &mut self,
        p: &Conv2dParams,
        x: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer>;
    fn max_pool2d(&mut self, p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer>;
    fn max_pool2d_backward(
        &mut self,
        p: &Pool2dParams,
        x: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer>;
    fn avg_pool2d(&mut self, p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer>;
    fn avg_pool2d_backward(&mut self, p: &Pool2dParams, dy: Input, out: &Meta) -> Result<Buffer>;
    /// `log = false`: softmax; `log = true`: log_softmax.
    fn softmax(&mut self, axis: usize, log: bool, x: Input, out: &Meta) -> Result<Buffer>;
    /// `y` is the forward output (softmax or log_softmax, per `log`).
    fn softmax_backward(
        &mut self,
        axis: usize,
        log: bool,
        y: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer>;
}

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
                        msg: format!("{}: slot {} read after release", step.op.name(), a.slot),
                    })?;
                    Ok(Input {
                        buffer,
                        layout: &a.layout,
                        dtype: a.dtype,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            dispatch(kernels, &step.op, &args, &step.meta)?
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

fn dispatch<K: Kernels + ?Sized>(k: &mut K, op: &Op, a: &[Input], out: &Meta) -> Result<Buffer> {
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
        Op::Concat { axis } => k.concat(*axis, a, out),
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
        Op::Fused(expr) => k.fused(expr, a, out),
        Op::Leaf | Op::Permute(_) | Op::Expand(_) | Op::Slice { .. } | Op::Detach => {
            Err(Error::Backend {
                backend: "schedule",
                msg: format!("{} is not a kernel", op.name()),
            })
        }
    }
}
