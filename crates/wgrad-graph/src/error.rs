//! The one error type of wgrad.
//!
//! Every variant names the op (or subsystem) and carries a message with the shapes or dtypes involved, in the
//! form `op: what (values)`, e.g. `matmul: inner dims differ: lhs [2, 3], rhs [4, 5] (3 != 4)`.

/// Errors from graph construction, execution, backends and data loading.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Shapes that do not fit the op.
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },
    /// A dtype the op does not accept.
    #[error("{op}: {msg}")]
    DType { op: &'static str, msg: String },
    /// An axis out of range.
    #[error("{op}: {msg}")]
    Axis { op: &'static str, msg: String },
    /// An index (slice bound, gather index, element index) out of range.
    #[error("{op}: {msg}")]
    Index { op: &'static str, msg: String },
    /// Any other bad argument (negative stride, zero kernel size, …).
    #[error("{op}: {msg}")]
    Argument { op: &'static str, msg: String },
    /// The op exists but cannot be differentiated (argmax, comparisons used as a loss, …).
    #[error("backward: {op} is not differentiable")]
    NotDifferentiable { op: &'static str },
    /// A backward request that makes no sense (non-scalar loss without a seed gradient, no grad path).
    #[error("backward: {msg}")]
    Backward { msg: String },
    /// Tensors from two different devices met in one op.
    #[error("{op}: tensors live on different devices ({lhs} and {rhs})")]
    DeviceMismatch {
        op: &'static str,
        lhs: String,
        rhs: String,
    },
    /// The backend cannot run this op or dtype (e.g. f64 without `SHADER_F64`).
    #[error("{backend} {op}: {msg}")]
    Unsupported {
        backend: &'static str,
        op: &'static str,
        msg: String,
    },
    /// A hardware or API limit would be exceeded, and the work cannot be split.
    #[error("{op}: {what} is {value}, above the adapter limit {limit_name} = {limit}")]
    LimitExceeded {
        op: &'static str,
        what: String,
        value: u64,
        limit_name: &'static str,
        limit: u64,
    },
    /// The GPU device was lost; every tensor on it is gone.
    #[error("device lost: {0}")]
    DeviceLost(String),
    /// The GPU ran out of memory.
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    /// A backend failure not covered above (validation errors, no adapter, mapping failures).
    #[error("{backend}: {msg}")]
    Backend { backend: &'static str, msg: String },
    /// A malformed or truncated file or data set.
    #[error("{path}: {msg}")]
    Data { path: String, msg: String },
    /// An I/O error with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape {
            op,
            msg: msg.into(),
        }
    }
    pub fn dtype(op: &'static str, msg: impl Into<String>) -> Self {
        Error::DType {
            op,
            msg: msg.into(),
        }
    }
    pub fn index(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Index {
            op,
            msg: msg.into(),
        }
    }
    pub fn argument(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Argument {
            op,
            msg: msg.into(),
        }
    }
}
