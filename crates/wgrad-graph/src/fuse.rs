//! Elementwise fusion: a pass over a [`Schedule`] that merges chains of f32 elementwise steps into one
//! [`Kernel::Fused`] step, for backends that ask for it ([`crate::Backend::fuses_elementwise`]).
//!
//! Why: every elementwise step reads and writes whole tensors, and in a training step most of them feed
//! exactly one other elementwise step (bias add → ReLU, ReLU's backward `lt` → `where`, the optimizer's
//! update chain). Fused, the intermediate values stay in registers: one launch and one pass over memory
//! instead of several.
//!
//! A step is inlined into its consumer when
//! - both are fusible: `Unary` on f32, `Binary` on f32 inputs (comparisons give bool), `Where` with f32
//!   branches;
//! - the value is not one the caller asked for, and the consumer is its only reader; or it is small
//!   ([`MAX_RECOMPUTED_OPS`], at most one full-size input) with at most [`MAX_SHARED_READERS`] readers:
//!   then every reader that can inline it recomputes it, and it is written out only if some reader needs
//!   it in memory (a bias add read by ReLU and by ReLU's backward never is);
//! - the consumer reads it whole, in order: a contiguous layout of the producer's shape, which is the
//!   consumer's shape (a broadcast or permuted read would need the value at other positions);
//! - the merged step still has at most [`MAX_LEAVES`] leaves (kernel bindings are limited).
//!
//! The fused expression keeps every node's dtype, so a backend computes exactly what the unfused steps
//! would; [`crate::Kernels::fused`]'s default runs the nodes one by one with the backend's own kernels.

use std::collections::HashMap;

use crate::dtype::DType;
use crate::expr::{count_ops, FusedExpr, Node};
use crate::op::Op;
use crate::schedule::{Arg, Kernel, Schedule, Slot, Step};

/// Most inputs (leaves) one fused step reads.
pub const MAX_LEAVES: usize = 6;

/// A value read by several fusible steps is recomputed inside each of them (instead of written out and
/// read back) when it has at most this many readers and this many ops: recomputing a few elementwise ops
/// costs less than a round trip through memory, and the limits keep repeated work bounded.
pub const MAX_SHARED_READERS: usize = 3;
/// See [`MAX_SHARED_READERS`].
pub const MAX_RECOMPUTED_OPS: usize = 4;

/// Whether `step` may take part in a fusion (as producer or consumer).
fn fusible(step: &Step) -> bool {
    let f32_args = |n: usize| step.args[..n].iter().all(|a| a.dtype == DType::F32);
    match &step.kernel {
        Kernel::Op(Op::Unary(_)) => step.meta.dtype == DType::F32 && f32_args(1),
        Kernel::Op(Op::Binary(_)) => f32_args(2),
        Kernel::Op(Op::Where) => {
            step.args[0].dtype == DType::Bool
                && step.args[1..].iter().all(|a| a.dtype == DType::F32)
        }
        _ => false,
    }
}

/// A producer waiting to be inlined: its expression, its step (emitted instead when a reader cannot inline
/// it) and how many reads are still to come.
struct Pending {
    expr: Partial,
    step: Step,
    left: usize,
}

/// An expression under construction: its nodes and the arguments its leaves read.
struct Partial {
    nodes: Vec<(Node, DType)>,
    args: Vec<Arg>,
    /// Whether a producer was inlined (else the step is better left as it was).
    inlined: bool,
}

impl Partial {
    /// Appends `other`'s nodes (renumbered) and returns the index of its result. A node equal to one
    /// already here (the same leaf read the same way, the same op on the same operands) is reused, so a
    /// value inlined into several operands of one expression is computed once.
    fn absorb(&mut self, other: &Partial) -> usize {
        let mut map = Vec::with_capacity(other.nodes.len());
        for (node, dtype) in &other.nodes {
            let index = match node {
                Node::Leaf(k) => self.leaf(&other.args[*k]),
                Node::Unary(op, a) => self.node(Node::Unary(*op, map[*a]), *dtype),
                Node::Binary(op, a, b) => self.node(Node::Binary(*op, map[*a], map[*b]), *dtype),
                Node::Where(c, a, b) => self.node(Node::Where(map[*c], map[*a], map[*b]), *dtype),
            };
            map.push(index);
        }
        *map.last().expect("an expression has at least one node")
    }

    /// The node reading `arg`, added (with its argument) unless one exists.
    fn leaf(&mut self, arg: &Arg) -> usize {
        let k = match self.args.iter().position(|a| same_read(a, arg)) {
            Some(k) => k,
            None => {
                self.args.push(arg.clone());
                self.args.len() - 1
            }
        };
        self.node(Node::Leaf(k), arg.dtype)
    }

    /// The index of `node`, added unless an equal node exists.
    fn node(&mut self, node: Node, dtype: DType) -> usize {
        let entry = (node, dtype);
        match self.nodes.iter().position(|n| *n == entry) {
            Some(i) => i,
            None => {
                self.nodes.push(entry);
                self.nodes.len() - 1
            }
        }
    }
}

fn same_read(a: &Arg, b: &Arg) -> bool {
    a.slot == b.slot && a.layout == b.layout && a.dtype == b.dtype
}

/// Merges fusible chains of `schedule` (see the module docs). Slots keep their numbers (each is written
/// once); release points are recomputed.
pub fn fuse(schedule: Schedule) -> Schedule {
    let Schedule {
        inputs,
        steps,
        slot_count,
        outputs,
    } = schedule;
    // how many times each slot is read (a step reading it twice counts twice), outputs included
    let mut readers = vec![0usize; slot_count];
    for step in &steps {
        for a in &step.args {
            readers[a.slot] += 1;
        }
    }
    let mut is_output = vec![false; slot_count];
    for &o in &outputs {
        readers[o] += 1;
        is_output[o] = true;
    }
    // producers waiting to be inlined into their readers
    let mut pending: HashMap<Slot, Pending> = HashMap::new();
    let mut fused: Vec<Step> = Vec::with_capacity(steps.len());
    for step in steps {
        if !fusible(&step) {
            for arg in &step.args {
                // this reader needs the value in memory: write it out once, later readers read it
                if let Some(p) = pending.remove(&arg.slot) {
                    fused.push(emit(p.expr, p.step));
                }
            }
            fused.push(step);
            continue;
        }
        let expr = expression(&step, &mut pending, &mut fused);
        let left = readers[step.out];
        if !is_output[step.out] && (left == 1 || recomputable(&expr, left)) {
            pending.insert(step.out, Pending { expr, step, left });
        } else {
            fused.push(emit(expr, step));
        }
    }
    // a pending value nobody reads (not produced by realize, which schedules only what is needed)
    let mut rest: Vec<(Slot, Pending)> = pending.into_iter().collect();
    rest.sort_by_key(|(slot, _)| *slot);
    fused.extend(rest.into_iter().map(|(_, p)| emit(p.expr, p.step)));
    attach_releases(&mut fused, &is_output);
    Schedule {
        inputs,
        steps: fused,
        slot_count,
        outputs,
    }
}

/// The expression of fusible `step`: its arguments' pending producers inlined where they fit, the others
/// (written out first if pending) read as leaves.
fn expression(step: &Step, pending: &mut HashMap<Slot, Pending>, fused: &mut Vec<Step>) -> Partial {
    let mut expr = Partial {
        nodes: Vec::new(),
        args: Vec::new(),
        inlined: false,
    };
    let mut operands = Vec::with_capacity(step.args.len());
    for (j, arg) in step.args.iter().enumerate() {
        // each later argument may still add a leaf
        let reserve = step.args.len() - j - 1;
        let inline = pending
            .get(&arg.slot)
            .is_some_and(|p| reads_whole(arg, &p.step) && fits(&expr, &p.expr, reserve));
        let operand = if inline {
            let p = pending.get_mut(&arg.slot).expect("checked above");
            p.left -= 1;
            expr.inlined = true;
            let operand = expr.absorb(&p.expr);
            if p.left == 0 {
                pending.remove(&arg.slot);
            }
            operand
        } else {
            if let Some(p) = pending.remove(&arg.slot) {
                fused.push(emit(p.expr, p.step));
            }
            expr.leaf(arg)
        };
        operands.push(operand);
    }
    let node = match &step.kernel {
        Kernel::Op(Op::Unary(op)) => Node::Unary(*op, operands[0]),
        Kernel::Op(Op::Binary(op)) => Node::Binary(*op, operands[0], operands[1]),
        _ => Node::Where(operands[0], operands[1], operands[2]),
    };
    // pushed even when equal to an operand node: the result must be the last node
    expr.nodes.push((node, step.meta.dtype));
    expr
}

/// Whether a value with `readers` readers may be recomputed in each: few readers, few ops, and at most one
/// full-size input (recomputing keeps the inputs alive until the last reader instead of the value itself;
/// a bias add keeps its activation, which the value would have cost anyway, and a broadcast bias).
fn recomputable(expr: &Partial, readers: usize) -> bool {
    let full_size = |a: &&Arg| {
        let l = &a.layout;
        l.shape
            .0
            .iter()
            .zip(&l.strides)
            .all(|(&n, &s)| n == 1 || s != 0)
    };
    readers <= MAX_SHARED_READERS
        && count_ops(&expr.nodes) <= MAX_RECOMPUTED_OPS
        && expr.args.iter().filter(full_size).count() <= 1
}

/// Whether `arg` reads all of `producer`'s output in order (then element i of the consumer is element i of
/// the producer).
fn reads_whole(arg: &Arg, producer: &Step) -> bool {
    let l = &arg.layout;
    l.offset == 0 && l.shape == producer.meta.shape && l.is_contiguous()
}

/// Whether inlining keeps the expression within [`MAX_LEAVES`], with `reserve` leaves kept for the
/// consumer's remaining arguments.
fn fits(expr: &Partial, inlined: &Partial, reserve: usize) -> bool {
    let new = inlined
        .args
        .iter()
        .filter(|a| !expr.args.iter().any(|b| same_read(a, b)))
        .count();
    expr.args.len() + new + reserve <= MAX_LEAVES
}

/// The step computing `p`: the original step when nothing was fused into it.
fn emit(p: Partial, step: Step) -> Step {
    if !p.inlined {
        // one op over its own arguments: nothing gained by a fused kernel
        return Step {
            release: Vec::new(),
            ..step
        };
    }
    Step {
        kernel: Kernel::Fused(std::sync::Arc::new(FusedExpr { nodes: p.nodes })),
        args: p.args,
        out: step.out,
        meta: step.meta,
        release: Vec::new(),
    }
}

/// Releases every slot after its last reader, except the outputs. The release points the steps came with
/// are dropped: an inlined producer now reads its leaves where its consumer runs, possibly after a step
/// that used to be their last reader.
fn attach_releases(steps: &mut [Step], is_output: &[bool]) {
    for s in steps.iter_mut() {
        s.release.clear();
    }
    let mut last: Vec<Option<usize>> = vec![None; is_output.len()];
    for (i, s) in steps.iter().enumerate() {
        for a in &s.args {
            last[a.slot] = Some(i);
        }
    }
    for (slot, step) in last.into_iter().enumerate() {
        if let (Some(i), false) = (step, is_output[slot]) {
            steps[i].release.push(slot);
        }
    }
}
