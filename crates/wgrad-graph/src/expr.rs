//! Elementwise expressions: a small tree of unary, binary and `where` nodes over a step's arguments.
//!
//! The fusion pass ([`crate::fuse`]) builds them from chains of elementwise steps; a backend compiles one into
//! a single kernel (the wgpu backend generates its standalone elementwise kernels as one-node expressions
//! too, so fused and unfused math cannot drift).

use crate::dtype::DType;
use crate::op::{BinaryOp, UnaryOp};

/// One node of a fused expression; operands index earlier nodes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// Argument `k` of the fused step.
    Leaf(usize),
    Unary(UnaryOp, usize),
    Binary(BinaryOp, usize, usize),
    /// `(cond, a, b)`
    Where(usize, usize, usize),
}

/// A tree of elementwise ops over the fused step's arguments; the last node is the result. All nodes have
/// the output's shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FusedExpr {
    /// Nodes in evaluation order, each with the dtype of its value.
    pub nodes: Vec<(Node, DType)>,
}

impl FusedExpr {
    /// Number of ops (non-leaf nodes).
    pub fn ops(&self) -> usize {
        count_ops(&self.nodes)
    }
}

pub(crate) fn count_ops(nodes: &[(Node, DType)]) -> usize {
    nodes
        .iter()
        .filter(|(n, _)| !matches!(n, Node::Leaf(_)))
        .count()
}
