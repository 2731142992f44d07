//! wgrad-graph: the device-agnostic core of wgrad.
//!
//! A [`Tensor`] is a cheap handle to a node of a lazy graph. Ops only record nodes; `realize` (or reading a
//! value) turns the pending nodes into a [`Schedule`] and hands it to the tensor's [`Backend`]. Gradients are
//! graph nodes too (`autodiff`), so a whole training step runs as one schedule and `grad` of a `grad` works.

pub mod backend;
pub mod dtype;
pub mod error;
pub mod fuse;
pub mod infer;
pub mod op;
pub mod philox;
pub mod shape;

pub use backend::{
    Arg, Backend, BoxFuture, Buffer, BufferImpl, Input, Kernels, Schedule, Slot, Step, View,
};
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use op::{
    infer, BinaryOp, Conv2dParams, Meta, Op, Pool2dParams, RandomDist, ReduceOp, UnaryOp,
};
pub use shape::{Layout, Shape};

pub mod autodiff;
pub mod device;
pub mod ops;
pub mod realize;
pub mod tensor;

pub use autodiff::grad;
pub use device::Device;
pub use ops::{Infer, IntoDims, TensorOrScalar};
pub use realize::realize;
pub use tensor::{is_grad_enabled, no_grad, NoGradGuard, Tensor};
