//! Device memory as the graph sees it: an opaque, shared [`Buffer`] and a [`View`] of a value inside one.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use crate::dtype::DType;
use crate::shape::Layout;

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
