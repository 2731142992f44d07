//! The CPU buffer (every element an `f64`) and the few helpers every kernel family shares: reading a strided
//! input in row-major order, rounding a result to its dtype once, and integer wrap-around.

use std::any::Any;

use wgrad_graph::{Buffer, BufferImpl, DType, Error, Input, Meta, Result};

/// A CPU buffer: one `f64` per element, each already rounded to `dtype`.
///
/// Why f64 for every dtype: every op can then compute in f64 and round once with [`DType::round`], which makes
/// f32/f16/bf16 results correctly rounded and i32/u32 results exact (every 32-bit integer is an f64). One
/// storage type also keeps each kernel a single loop instead of one per dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuBuffer {
    pub dtype: DType,
    pub data: Vec<f64>,
}

impl BufferImpl for CpuBuffer {
    /// Size of the value in its host representation, `len · dtype.host_size()`.
    fn byte_size(&self) -> usize {
        self.data.len() * self.dtype.host_size()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The [`CpuBuffer`] behind an input, after checking that the input's layout stays inside it.
pub(crate) fn storage<'a>(op: &'static str, x: &Input<'a>) -> Result<&'a CpuBuffer> {
    let buf = x
        .buffer
        .downcast::<CpuBuffer>()
        .ok_or_else(|| Error::Backend {
            backend: "cpu",
            msg: format!("{op}: input buffer belongs to another backend"),
        })?;
    let layout = x.layout;
    if layout.strides.len() != layout.shape.rank() || layout.span_end() > buf.data.len() {
        return Err(Error::Backend {
            backend: "cpu",
            msg: format!(
                "{op}: view {} strides {:?} offset {} does not fit a buffer of {} elements",
                layout.shape,
                layout.strides,
                layout.offset,
                buf.data.len()
            ),
        });
    }
    Ok(buf)
}

/// The elements of an input in row-major order of its shape: element `k` is `data[layout.position(k)]`, so
/// strides (0 for broadcast axes) and offsets are honoured by every op through this one function.
pub(crate) fn values(op: &'static str, x: Input) -> Result<Vec<f64>> {
    let buf = storage(op, &x)?;
    Ok((0..x.layout.numel())
        .map(|k| buf.data[x.layout.position(k)])
        .collect())
}

/// A fresh contiguous buffer of `out`, each exact (f64) value rounded once with [`DType::round`].
pub(crate) fn output(out: &Meta, mut data: Vec<f64>) -> Buffer {
    for v in &mut data {
        *v = out.dtype.round(*v);
    }
    Buffer::new(CpuBuffer {
        dtype: out.dtype,
        data,
    })
}

/// `acc + v` for a running sum in `dtype`: exact f64 for floats (rounded once at the end), two's-complement
/// wrap-around after every step for integers, so the sum of 32-bit values never leaves f64's exact range.
pub(crate) fn accumulate(dtype: DType, acc: f64, v: f64) -> f64 {
    if dtype.is_int() {
        dtype.round(acc + v)
    } else {
        acc + v
    }
}

/// Wraps an exact integer result to `dtype` (i32 or u32) the way two's-complement hardware does.
pub(crate) fn wrap_int(dtype: DType, v: i64) -> f64 {
    match dtype {
        DType::U32 => v as u32 as f64,
        _ => v as i32 as f64,
    }
}

/// The product `a·b` in `dtype`: the wrapped integer product for i32/u32 (an f64 product of two 32-bit values
/// can exceed 2⁵³ and lose the low bits), the exact-enough f64 product otherwise.
pub(crate) fn mul(dtype: DType, a: f64, b: f64) -> f64 {
    if dtype.is_int() {
        wrap_int(dtype, (a as i64).wrapping_mul(b as i64))
    } else {
        a * b
    }
}

/// Error unless `shape` equals what the op expects.
pub(crate) fn expect_shape(
    op: &'static str,
    what: &str,
    got: &wgrad_graph::Shape,
    want: &wgrad_graph::Shape,
) -> Result<()> {
    if got != want {
        return Err(Error::shape(
            op,
            format!("{what} is {got}, expected {want}"),
        ));
    }
    Ok(())
}
