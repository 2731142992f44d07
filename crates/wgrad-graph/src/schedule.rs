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

impl Schedule {
    /// The most bytes this schedule needs at once, run in its order with every buffer freed right after
    /// its last reader: the buffers it starts with, plus the step outputs alive at the worst step. A
    /// backend's measured peak for the schedule is this plus what its kernels stage on the side (packed
    /// textures, split partials) and what its allocator rounds up.
    pub fn live_bytes_bound(&self) -> u64 {
        let inputs: u64 = self.inputs.iter().map(|b| b.byte_size() as u64).sum();
        let mut size = vec![0u64; self.slot_count];
        let (mut live, mut peak) = (0u64, 0u64);
        for step in &self.steps {
            let bytes = (step.meta.numel() * step.meta.dtype.host_size()) as u64;
            if let Some(s) = size.get_mut(step.out) {
                *s = bytes;
            }
            live += bytes;
            peak = peak.max(live);
            for &r in &step.release {
                if let Some(s) = size.get_mut(r) {
                    live -= std::mem::take(s);
                }
            }
        }
        inputs + peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(out: Slot, floats: usize, release: Vec<Slot>) -> Step {
        Step {
            kernel: Kernel::Op(Op::Copy),
            args: Vec::new(),
            out,
            meta: Meta::new(vec![floats], DType::F32),
            release,
        }
    }

    #[test]
    fn the_live_bound_counts_outputs_until_their_last_reader() {
        // a (100 floats) -> b (200) -> c (50), a released after b, b after c
        let s = Schedule {
            inputs: Vec::new(),
            steps: vec![
                step(0, 100, vec![]),
                step(1, 200, vec![0]),
                step(2, 50, vec![1]),
            ],
            slot_count: 3,
            outputs: vec![2],
        };
        assert_eq!(s.live_bytes_bound(), 4 * 300);
    }
}
