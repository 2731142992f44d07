//! The primitive op set and its shape/dtype inference.
//!
//! Every primitive needs a CPU loop, a WGSL kernel, a backward rule and a test row, so the set stays small;
//! composites (mean, var, logsumexp, losses, norms) are built from these in `compose`. Inputs live in the graph
//! node, never inside a variant, so graph walks never match on ops.
//!
//! Binary ops and `where` take equal shapes: the `Tensor` API broadcasts by inserting `expand`, whose backward
//! is a sum, so no other rule has to "unbroadcast".

use crate::dtype::DType;
use crate::shape::Shape;

/// Shape and dtype of a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Meta {
    pub shape: Shape,
    pub dtype: DType,
}

impl Meta {
    pub fn new(shape: impl Into<Shape>, dtype: DType) -> Self {
        Meta {
            shape: shape.into(),
            dtype,
        }
    }
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }
}

/// Elementwise functions of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Recip,
    Abs,
    Sign,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 13] = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Recip,
        UnaryOp::Abs,
        UnaryOp::Sign,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
    ];
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Rsqrt => "rsqrt",
            UnaryOp::Recip => "recip",
            UnaryOp::Abs => "abs",
            UnaryOp::Sign => "sign",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Relu => "relu",
        }
    }
    /// Ops that also make sense on integers (i32; `neg`/`sign` on u32 wrap like Rust's `wrapping_neg`).
    pub fn allows_int(self) -> bool {
        matches!(
            self,
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign | UnaryOp::Relu
        )
    }
}

/// Elementwise functions of two equal-shaped arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
    Lt,
    Le,
    Eq,
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 10] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Eq,
    ];
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Max => "maximum",
            BinaryOp::Min => "minimum",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Eq => "eq",
        }
    }
    /// Comparisons produce `bool`.
    pub fn is_comparison(self) -> bool {
        matches!(self, BinaryOp::Lt | BinaryOp::Le | BinaryOp::Eq)
    }
}

/// Reductions over a set of axes; the output keeps reduced axes as size 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
    /// Index (i32) of the first maximum; exactly one axis.
    ArgMax,
    /// Index (i32) of the first minimum; exactly one axis.
    ArgMin,
}

impl ReduceOp {
    pub const ALL: [ReduceOp; 5] = [
        ReduceOp::Sum,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::ArgMax,
        ReduceOp::ArgMin,
    ];
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::ArgMax => "argmax",
            ReduceOp::ArgMin => "argmin",
        }
    }
}

/// Distributions of the counter-based generator (see [`crate::philox`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RandomDist {
    /// Uniform in `[0, 1)`.
    Uniform,
    /// Standard normal (Box-Muller).
    Normal,
    /// 1 with probability `p`, else 0, in the output dtype.
    Bernoulli { p: f64 },
}

/// Parameters of a 2-D convolution (cross-correlation, NCHW input, weight `[C_out, C_in/groups, KH, KW]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl Conv2dParams {
    /// Output size along one spatial axis: `⌊(in + 2p - d(k-1) - 1)/s⌋ + 1`.
    pub fn out_size(&self, axis: usize, input: usize, kernel: usize) -> Option<usize> {
        let span = self.dilation[axis] * (kernel - 1) + 1;
        let padded = input + 2 * self.padding[axis];
        if padded < span || self.stride[axis] == 0 {
            return None;
        }
        Some((padded - span) / self.stride[axis] + 1)
    }
}

/// Parameters of 2-D pooling over NCHW. Max pooling pads with -∞; average pooling counts padding as zeros
/// (PyTorch's `count_include_pad=True`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dParams {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Pool2dParams {
    pub fn out_size(&self, axis: usize, input: usize) -> Option<usize> {
        let padded = input + 2 * self.padding[axis];
        if padded < self.kernel[axis] || self.stride[axis] == 0 || self.kernel[axis] == 0 {
            return None;
        }
        Some((padded - self.kernel[axis]) / self.stride[axis] + 1)
    }
}

/// A primitive. Inputs are listed per variant in its doc comment, in the order of `Node::inputs`.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Data handed in by the user; always realized. No inputs.
    Leaf,
    /// Every element equal to the value. No inputs.
    Full(f64),
    /// Counter-based random numbers: element `i` uses Philox counter `(offset + i)`. No inputs.
    Random {
        dist: RandomDist,
        seed: u64,
        offset: u64,
    },
    /// `(x)`.
    Unary(UnaryOp),
    /// `(x)` converted to the dtype (float→int truncates toward zero, →bool is `x != 0`).
    Cast(DType),
    /// `(lhs, rhs)`, equal shapes and dtypes.
    Binary(BinaryOp),
    /// `(cond: bool, a, b)`, equal shapes, `a` and `b` of one dtype.
    Where,
    /// `(x)`, axes sorted and distinct, reduced axes kept as size 1.
    Reduce { op: ReduceOp, axes: Vec<usize> },
    /// `(x)`: same elements, new shape (a view when `x` is contiguous).
    Reshape(Shape),
    /// `(x)`: axes reordered; a view.
    Permute(Vec<usize>),
    /// `(x)`: size-1 or new leading axes repeated; a view with stride 0.
    Expand(Shape),
    /// `(x)`: `x[start:end:step]` along every axis (step ≥ 1); a view.
    Slice {
        starts: Vec<usize>,
        ends: Vec<usize>,
        steps: Vec<usize>,
    },
    /// `(x)`: `before[i]`/`after[i]` elements of `value` added on each side of axis `i`.
    Pad {
        before: Vec<usize>,
        after: Vec<usize>,
        value: f64,
    },
    /// `(x0, x1, …)` joined along the axis.
    Concat { axis: usize },
    /// `(x, index: i32)`: `out[p] = x[p with p[axis] := index[p]]`, index of x's rank, output of index's shape
    /// (PyTorch `gather`).
    Gather { axis: usize },
    /// `(index: i32, src)`: zeros of `shape`, then `out[p with p[axis] := index[p]] += src[p]`; the adjoint of
    /// `gather`.
    ScatterAdd { axis: usize, shape: Shape },
    /// `(lhs [b, m, k], rhs [b, k, n]) -> [b, m, n]`.
    Matmul,
    /// `(x [n, c_in, h, w], weight [c_out, c_in/groups, kh, kw])`.
    Conv2d(Conv2dParams),
    /// `(dy [n, c_out, oh, ow], weight)` → `dx [n, c_in, h, w]`: the transposed convolution.
    Conv2dBackwardInput {
        params: Conv2dParams,
        input_hw: [usize; 2],
    },
    /// `(x, dy)` → `dweight [c_out, c_in/groups, kh, kw]`.
    Conv2dBackwardWeight {
        params: Conv2dParams,
        kernel_hw: [usize; 2],
    },
    /// `(x [n, c, h, w])`.
    MaxPool2d(Pool2dParams),
    /// `(x, dy)` → `dx`: each window's `dy` goes to the window's first maximum.
    MaxPool2dBackward(Pool2dParams),
    /// `(x [n, c, h, w])`.
    AvgPool2d(Pool2dParams),
    /// `(dy)` → `dx [n, c, input_hw]`.
    AvgPool2dBackward {
        params: Pool2dParams,
        input_hw: [usize; 2],
    },
    /// `(x)`, along one axis, max-subtracted.
    Softmax { axis: usize },
    /// `(x)`: `x - logsumexp(x)` along one axis.
    LogSoftmax { axis: usize },
    /// `(y, dy)` with `y = softmax(x)`: `y·(dy - Σ dy·y)`.
    SoftmaxBackward { axis: usize },
    /// `(z, dy)` with `z = log_softmax(x)`: `dy - exp(z)·Σ dy`.
    LogSoftmaxBackward { axis: usize },
    /// `(x)` copied into a fresh contiguous buffer.
    Copy,
    /// `(x)`: the same value with gradients stopped; an alias of the input's buffer.
    Detach,
    /// `(leaves…)`: a chain of elementwise ops merged by [`crate::fuse`] in a schedule; never a graph node.
    Fused(std::sync::Arc<crate::fuse::FusedExpr>),
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Leaf => "leaf",
            Op::Fused(_) => "fused",
            Op::Full(_) => "full",
            Op::Random { .. } => "random",
            Op::Unary(u) => u.name(),
            Op::Cast(_) => "cast",
            Op::Binary(b) => b.name(),
            Op::Where => "where",
            Op::Reduce { op, .. } => op.name(),
            Op::Reshape(_) => "reshape",
            Op::Permute(_) => "permute",
            Op::Expand(_) => "expand",
            Op::Slice { .. } => "slice",
            Op::Pad { .. } => "pad",
            Op::Concat { .. } => "cat",
            Op::Gather { .. } => "gather",
            Op::ScatterAdd { .. } => "scatter_add",
            Op::Matmul => "matmul",
            Op::Conv2d(_) => "conv2d",
            Op::Conv2dBackwardInput { .. } => "conv2d_backward_input",
            Op::Conv2dBackwardWeight { .. } => "conv2d_backward_weight",
            Op::MaxPool2d(_) => "max_pool2d",
            Op::MaxPool2dBackward(_) => "max_pool2d_backward",
            Op::AvgPool2d(_) => "avg_pool2d",
            Op::AvgPool2dBackward { .. } => "avg_pool2d_backward",
            Op::Softmax { .. } => "softmax",
            Op::LogSoftmax { .. } => "log_softmax",
            Op::SoftmaxBackward { .. } => "softmax_backward",
            Op::LogSoftmaxBackward { .. } => "log_softmax_backward",
            Op::Copy => "copy",
            Op::Detach => "detach",
        }
    }

    /// One example of every variant, for tests that must cover the whole op set (an op table that misses a
    /// primitive fails). Add new variants here too.
    pub fn one_of_each() -> Vec<Op> {
        let c = Conv2dParams::default();
        let p = Pool2dParams {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
        };
        let mut ops = vec![
            Op::Leaf,
            Op::Full(0.0),
            Op::Random {
                dist: RandomDist::Uniform,
                seed: 0,
                offset: 0,
            },
            Op::Cast(DType::F32),
            Op::Where,
            Op::Reshape(Shape::scalar()),
            Op::Permute(vec![]),
            Op::Expand(Shape::scalar()),
            Op::Slice {
                starts: vec![],
                ends: vec![],
                steps: vec![],
            },
            Op::Pad {
                before: vec![],
                after: vec![],
                value: 0.0,
            },
            Op::Concat { axis: 0 },
            Op::Gather { axis: 0 },
            Op::ScatterAdd {
                axis: 0,
                shape: Shape::scalar(),
            },
            Op::Matmul,
            Op::Conv2d(c),
            Op::Conv2dBackwardInput {
                params: c,
                input_hw: [1, 1],
            },
            Op::Conv2dBackwardWeight {
                params: c,
                kernel_hw: [1, 1],
            },
            Op::MaxPool2d(p),
            Op::MaxPool2dBackward(p),
            Op::AvgPool2d(p),
            Op::AvgPool2dBackward {
                params: p,
                input_hw: [2, 2],
            },
            Op::Softmax { axis: 0 },
            Op::LogSoftmax { axis: 0 },
            Op::SoftmaxBackward { axis: 0 },
            Op::LogSoftmaxBackward { axis: 0 },
            Op::Copy,
            Op::Detach,
        ];
        ops.extend(UnaryOp::ALL.map(Op::Unary));
        ops.extend(BinaryOp::ALL.map(Op::Binary));
        ops.extend(
            ReduceOp::ALL
                .iter()
                .map(|&op| Op::Reduce { op, axes: vec![] }),
        );
        ops
    }

    /// Ops that only change the layout; they never launch a kernel unless a reshape meets a strided input.
    pub fn is_view(&self) -> bool {
        matches!(
            self,
            Op::Reshape(_) | Op::Permute(_) | Op::Expand(_) | Op::Slice { .. } | Op::Detach
        )
    }

    /// Ops whose kernels read arbitrary strided layouts; every other op gets contiguous inputs (the scheduler
    /// inserts a `copy` where needed).
    pub fn reads_strided(&self) -> bool {
        matches!(
            self,
            Op::Unary(_)
                | Op::Cast(_)
                | Op::Binary(_)
                | Op::Where
                | Op::Reduce { .. }
                | Op::Copy
                | Op::Matmul
                | Op::Fused(_)
        )
    }
}

pub use crate::infer::infer;
