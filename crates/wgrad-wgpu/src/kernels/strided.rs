//! Uniform params for kernels that read strided inputs (the `Params` struct of unary/binary/movement.wgsl).
//!
//! Word layout (40 u32): `numel, rank, s0, s1`, `shape[8]`, `offsets[4]`, then 8 strides per input (up to 3).
//! Generated kernels with more inputs ([`params_n`], `kernels::fused`) widen the offsets to `4·ceil(n/4)`
//! words and take 8 strides for each of their `n` inputs.
//! Dims are coalesced first: adjacent dims merge when every input is contiguous across them, and size-1 dims
//! drop, so a contiguous tensor of any rank is rank 1 and the per-element index loop runs once.

use wgrad_graph::{Error, Layout, Result};

use super::word;

/// Most dims a kernel index loop handles after coalescing.
pub const MAX_RANK: usize = 8;
/// Most strided inputs one dispatch reads.
pub const MAX_INPUTS: usize = 3;
/// Words of the `Params` block.
pub const PARAM_WORDS: usize = 16 + 8 * MAX_INPUTS;

/// Merges dims of `shape` that every input's strides traverse contiguously; drops size-1 dims.
/// Returns the coalesced shape and, per input, its strides on that shape.
pub fn coalesce(shape: &[usize], strides: &[&[usize]]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_shape: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        let mergeable = !out_shape.is_empty()
            && strides
                .iter()
                .zip(&out_strides)
                .all(|(s, o)| o.last().copied() == Some(s[d] * shape[d]));
        if mergeable {
            *out_shape.last_mut().expect("non-empty") *= shape[d];
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                *o.last_mut().expect("non-empty") = s[d];
            }
        } else {
            out_shape.push(shape[d]);
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                o.push(s[d]);
            }
        }
    }
    if out_shape.is_empty() {
        out_shape.push(1);
        for o in out_strides.iter_mut() {
            o.push(0);
        }
    }
    (out_shape, out_strides)
}

/// The `Params` words for an elementwise op over `inputs` (all of the output's shape), with two scalar
/// words `s0`, `s1` for the kernel (fill values, thresholds).
pub fn params(op: &'static str, inputs: &[&Layout], scalars: [u32; 2]) -> Result<Vec<u32>> {
    if inputs.len() > MAX_INPUTS {
        return Err(Error::argument(
            op,
            format!("{} strided inputs, at most {MAX_INPUTS}", inputs.len()),
        ));
    }
    words(op, inputs, scalars, MAX_INPUTS)
}

/// [`params`] for a generated kernel over `inputs.len()` inputs (any number).
pub fn params_n(op: &'static str, inputs: &[&Layout]) -> Result<Vec<u32>> {
    words(op, inputs, [0, 0], inputs.len())
}

/// Words of offset slots in a params block for `n` inputs (whole vec4s).
pub fn offset_words(n: usize) -> usize {
    4 * n.div_ceil(4).max(1)
}

/// The params block with room for `capacity` inputs.
fn words(
    op: &'static str,
    inputs: &[&Layout],
    scalars: [u32; 2],
    capacity: usize,
) -> Result<Vec<u32>> {
    let first = inputs
        .first()
        .ok_or_else(|| Error::argument(op, "no inputs"))?;
    let strides: Vec<&[usize]> = inputs.iter().map(|l| l.strides.as_slice()).collect();
    let (shape, strides) = coalesce(&first.shape.0, &strides);
    let numel = first.numel();
    if shape.len() > MAX_RANK {
        return Err(Error::LimitExceeded {
            op,
            what: format!("rank after coalescing ({shape:?})"),
            value: shape.len() as u64,
            limit_name: "wgrad MAX_RANK",
            limit: MAX_RANK as u64,
        });
    }
    let stride_base = 12 + offset_words(capacity);
    let mut w = vec![0u32; stride_base + 8 * capacity];
    w[0] = word(op, "element count", numel)?;
    w[1] = shape.len() as u32;
    w[2] = scalars[0];
    w[3] = scalars[1];
    for (d, &n) in shape.iter().enumerate() {
        w[4 + d] = word(op, "dim", n)?;
    }
    for (k, l) in inputs.iter().enumerate() {
        w[12 + k] = word(op, "offset", l.offset)?;
        for (d, &s) in strides[k].iter().enumerate() {
            w[stride_base + 8 * k + d] = word(op, "stride", s)?;
        }
    }
    Ok(w)
}

/// Workgroups for `numel` elements at `wg` per workgroup.
pub fn groups(op: &'static str, numel: usize, wg: u32) -> Result<u32> {
    word(op, "workgroup count", numel.div_ceil(wg as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wgrad_graph::Shape;

    #[test]
    fn coalesce_merges_contiguous_and_keeps_permuted() {
        let c = Layout::contiguous(Shape::new([2, 3, 4]));
        assert_eq!(
            coalesce(&c.shape.0, &[&c.strides]),
            (vec![24], vec![vec![1]])
        );
        let t = c.permute(&[0, 2, 1]);
        let (s, st) = coalesce(&t.shape.0, &[&t.strides]);
        assert_eq!(s, vec![2, 4, 3]);
        assert_eq!(st, vec![vec![12, 1, 4]]);
        let e = Layout::contiguous(Shape::new([3])).expand(&Shape::new([5, 1, 3]));
        assert_eq!(
            coalesce(&e.shape.0, &[&e.strides]),
            (vec![5, 3], vec![vec![0, 1]])
        );
        assert_eq!(coalesce(&[], &[&[]]), (vec![1], vec![vec![0]]));
    }
}
