//! Batched matrix multiplication.

use wgrad_graph::{Buffer, DType, Error, Input, Meta, Result, Shape};

use crate::buffer::{accumulate, expect_shape, mul, output, values};

/// `out[b, i, j] = Σ_k lhs[b, i, k] · rhs[b, k, j]`.
///
/// # Shapes
/// `lhs [b, m, k]`, `rhs [b, k, n]` → `[b, m, n]`. Both inputs may be strided (a transposed weight, a batch
/// stride of 0 for a weight shared across the batch). Floats accumulate in f64 and round once; integers use
/// wrapping two's-complement products and sums.
pub(crate) fn matmul(lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer> {
    let (l, r) = (lhs.shape().clone(), rhs.shape().clone());
    if lhs.dtype != rhs.dtype || lhs.dtype == DType::Bool {
        return Err(Error::dtype(
            "matmul",
            format!(
                "dtypes must match and not be bool: lhs {}, rhs {}",
                lhs.dtype, rhs.dtype
            ),
        ));
    }
    if l.rank() != 3 || r.rank() != 3 || l.0[0] != r.0[0] || l.0[2] != r.0[1] {
        return Err(Error::shape(
            "matmul",
            format!("needs [b, m, k] and [b, k, n], got lhs {l}, rhs {r}"),
        ));
    }
    let (b, m, k, n) = (l.0[0], l.0[1], l.0[2], r.0[2]);
    expect_shape("matmul", "output", &out.shape, &Shape::new([b, m, n]))?;
    let (ls, rs) = (values("matmul", lhs)?, values("matmul", rhs)?);
    let d = lhs.dtype;
    let mut data = Vec::with_capacity(b * m * n);
    for bi in 0..b {
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0;
                for t in 0..k {
                    let p = mul(d, ls[(bi * m + i) * k + t], rs[(bi * k + t) * n + j]);
                    acc = accumulate(d, acc, p);
                }
                data.push(acc);
            }
        }
    }
    Ok(output(out, data))
}
