//! wgrad-graph: the device-agnostic core of wgrad.
//!
//! A [`Tensor`] is a cheap handle to a node of a lazy graph. Ops only record nodes; `realize` (or reading a
//! value) turns the pending nodes into a [`Schedule`] and hands it to the tensor's [`Backend`]. Gradients are
//! graph nodes too (`autodiff`), so a whole training step runs as one schedule and `grad` of a `grad` works.

pub mod backend;
pub mod buffer;
pub mod dtype;
pub mod error;
pub mod expr;
pub mod fuse;
pub mod infer;
pub mod kernels;
pub mod op;
pub mod philox;
pub mod registry;
pub mod runner;
pub mod schedule;
pub mod shape;

pub use backend::{Backend, BoxFuture, MemoryStats};
pub use buffer::{Buffer, BufferImpl, View};
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use expr::{FusedExpr, Node};
pub use infer::infer;
pub use kernels::{Input, Kernels};
pub use op::{
    AttentionParams, Conv2dParams, Meta, Op, OpKind, Pool2dParams, RandomDist, MAX_FUSED_HEAD_DIM,
};
pub use registry::{BinaryOp, ReduceOp, UnaryOp};
pub use runner::run_schedule;
pub use schedule::{Arg, Kernel, Schedule, Slot, Step};
pub use shape::{Layout, Shape};

pub mod autodiff;
pub mod device;
pub mod ops;
pub mod realize;
pub mod tensor;

pub use autodiff::grad;
pub use device::Device;
pub use ops::{
    attention_weights, fused_attention, scaled_dot_product_attention,
    scaled_dot_product_attention_with, AttentionPath, ConvTranspose2dParams, Infer, IntoDims,
    SdpaOptions, TensorOrScalar,
};
pub use realize::{defer, realize};
pub use tensor::{is_grad_enabled, no_grad, NoGradGuard, Tensor};
