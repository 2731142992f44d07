//! A [`Schedule`]: what `realize` hands a backend. Kernel launches in topological order, each reading strided
//! views of earlier results, plus the point after which each buffer is no longer needed.
//!
//! A step runs a [`Kernel`]: one primitive [`Op`], or a fused elementwise expression the fusion pass
//! ([`crate::fuse`]) merged from several steps. Fusion is a property of the schedule; graph nodes are ops only.

use std::sync::Arc;

use crate::buffer::Buffer;
use crate::dtype::DType;
use crate::expr::FusedExpr;
use crate::op::{Meta, Op};
use crate::shape::Layout;

/// Index of a buffer slot in a schedule.
pub type Slot = usize;

/// A kernel input: the slot holding the buffer and the view of it the kernel reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub slot: Slot,
    pub layout: Layout,
    pub dtype: DType,
}

/// What a step runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Kernel {
    /// One primitive.
    Op(Op),
    /// A chain of elementwise ops over the step's arguments, merged by [`crate::fuse`].
    Fused(Arc<FusedExpr>),
}

impl Kernel {
    /// The op's name, or `fused`.
    pub fn name(&self) -> &'static str {
        match self {
            Kernel::Op(op) => op.name(),
            Kernel::Fused(_) => "fused",
        }
    }

    /// Whether the kernel reads arbitrary strided layouts (see [`Op::reads_strided`]); fused kernels do.
    pub fn reads_strided(&self) -> bool {
        match self {
            Kernel::Op(op) => op.reads_strided(),
            Kernel::Fused(_) => true,
        }
    }

    /// The op, when the kernel is one primitive.
    pub fn op(&self) -> Option<&Op> {
        match self {
            Kernel::Op(op) => Some(op),
            Kernel::Fused(_) => None,
        }
    }
}

/// One kernel launch.
#[derive(Clone, Debug)]
pub struct Step {
    pub kernel: Kernel,
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
