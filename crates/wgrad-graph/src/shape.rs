//! Shapes, NumPy broadcasting, and strided layouts (views into a buffer).

use crate::error::{Error, Result};

/// The dimensions of a tensor, outermost first. `[]` is a scalar.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Shape(dims.into())
    }

    pub fn scalar() -> Self {
        Shape(Vec::new())
    }

    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// Row-major (C-order) strides in elements.
    pub fn contiguous_strides(&self) -> Vec<usize> {
        let mut strides = vec![0; self.rank()];
        let mut acc = 1;
        for (s, &d) in strides.iter_mut().zip(&self.0).rev() {
            *s = acc;
            acc *= d;
        }
        strides
    }

    /// Resolves a possibly negative axis (`-1` is the last) against this rank.
    pub fn axis(&self, op: &'static str, axis: isize) -> Result<usize> {
        let rank = self.rank() as isize;
        let a = if axis < 0 { axis + rank } else { axis };
        if a < 0 || a >= rank {
            return Err(Error::Axis {
                op,
                msg: format!("dim {axis} out of range for shape {self}"),
            });
        }
        Ok(a as usize)
    }

    /// The NumPy/PyTorch broadcast of two shapes: align on the right, sizes must be equal or 1.
    pub fn broadcast(op: &'static str, lhs: &Shape, rhs: &Shape) -> Result<Shape> {
        let rank = lhs.rank().max(rhs.rank());
        let mut out = vec![0; rank];
        for (i, o) in out.iter_mut().enumerate() {
            let l = dim_from_right(lhs, rank - 1 - i);
            let r = dim_from_right(rhs, rank - 1 - i);
            *o = match (l, r) {
                (a, b) if a == b => a,
                (1, b) => b,
                (a, 1) => a,
                _ => {
                    return Err(Error::Shape {
                        op,
                        msg: format!("shapes do not broadcast: lhs {lhs}, rhs {rhs}"),
                    })
                }
            };
        }
        Ok(Shape(out))
    }

    /// Unravels a row-major linear index into a multi-index.
    pub fn unravel(&self, mut linear: usize, index: &mut [usize]) {
        for (i, &d) in self.0.iter().enumerate().rev() {
            index[i] = linear % d.max(1);
            linear /= d.max(1);
        }
    }
}

fn dim_from_right(shape: &Shape, k: usize) -> usize {
    if k < shape.rank() {
        shape.0[shape.rank() - 1 - k]
    } else {
        1
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<Vec<usize>> for Shape {
    fn from(v: Vec<usize>) -> Self {
        Shape(v)
    }
}

impl From<&[usize]> for Shape {
    fn from(v: &[usize]) -> Self {
        Shape(v.to_vec())
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(v: [usize; N]) -> Self {
        Shape(v.to_vec())
    }
}

/// How a tensor's elements sit in a buffer: element `index` lives at `offset + Σ index[i]·strides[i]`.
///
/// Movement ops (reshape of a contiguous view, permute, expand, slice) only change the layout, never the
/// buffer, so broadcasting a bias or transposing a weight costs no kernel. A stride of 0 is a broadcast axis.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    pub shape: Shape,
    pub strides: Vec<usize>,
    pub offset: usize,
}

impl Layout {
    pub fn contiguous(shape: Shape) -> Self {
        let strides = shape.contiguous_strides();
        Layout {
            shape,
            strides,
            offset: 0,
        }
    }

    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// True when the elements are dense and in row-major order (the offset may be anything).
    pub fn is_contiguous(&self) -> bool {
        let mut acc = 1;
        for (&d, &s) in self.shape.0.iter().zip(&self.strides).rev() {
            if d != 1 && s != acc {
                return false;
            }
            acc *= d;
        }
        true
    }

    /// Buffer position (in elements) of the element at row-major `linear` index.
    pub fn position(&self, mut linear: usize) -> usize {
        let mut pos = self.offset;
        for (&d, &s) in self.shape.0.iter().zip(&self.strides).rev() {
            let d = d.max(1);
            pos += (linear % d) * s;
            linear /= d;
        }
        pos
    }

    /// One past the largest buffer position this layout touches (0 when empty).
    pub fn span_end(&self) -> usize {
        if self.numel() == 0 {
            return self.offset;
        }
        self.offset
            + self
                .shape
                .0
                .iter()
                .zip(&self.strides)
                .map(|(&d, &s)| (d - 1) * s)
                .sum::<usize>()
            + 1
    }

    pub fn permute(&self, perm: &[usize]) -> Layout {
        Layout {
            shape: Shape(perm.iter().map(|&p| self.shape.0[p]).collect()),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }

    /// Broadcasts to `shape` (same rank or more; new and size-1 axes get stride 0).
    pub fn expand(&self, shape: &Shape) -> Layout {
        let extra = shape.rank() - self.shape.rank();
        let strides = (0..shape.rank())
            .map(|i| {
                if i < extra || self.shape.0[i - extra] == 1 {
                    0
                } else {
                    self.strides[i - extra]
                }
            })
            .collect();
        Layout {
            shape: shape.clone(),
            strides,
            offset: self.offset,
        }
    }

    /// A strided window: `starts[i] + k·steps[i]` for `k < out_shape[i]`.
    pub fn slice(&self, starts: &[usize], steps: &[usize], out_shape: &Shape) -> Layout {
        let offset = self.offset
            + starts
                .iter()
                .zip(&self.strides)
                .map(|(&b, &s)| b * s)
                .sum::<usize>();
        Layout {
            shape: out_shape.clone(),
            strides: self
                .strides
                .iter()
                .zip(steps)
                .map(|(&s, &k)| s * k)
                .collect(),
            offset,
        }
    }

    /// Reinterprets the layout with a new shape of the same element count, without moving data, when the
    /// strides allow it (PyTorch's `computeStride`): contiguous runs of old axes may be split or merged, and
    /// size-1 axes come and go freely, so `w.t().reshape([1, k, n])` stays a view. `None` means a copy is
    /// needed.
    pub fn reshape(&self, shape: &Shape) -> Option<Layout> {
        let old = &self.shape.0;
        let new = &shape.0;
        if self.numel() == 0 || old.is_empty() {
            let mut l = Layout::contiguous(shape.clone());
            l.offset = self.offset;
            return Some(l);
        }
        let mut strides = vec![0usize; new.len()];
        let mut view_d = new.len() as isize - 1;
        let mut chunk_base = *self.strides.last().expect("rank > 0");
        let mut tensor_numel = 1;
        let mut view_numel = 1;
        for tensor_d in (0..old.len()).rev() {
            tensor_numel *= old[tensor_d];
            let chunk_ends = tensor_d == 0
                || (old[tensor_d - 1] != 1
                    && self.strides[tensor_d - 1] != tensor_numel * chunk_base);
            if chunk_ends {
                while view_d >= 0 && (view_numel < tensor_numel || new[view_d as usize] == 1) {
                    strides[view_d as usize] = view_numel * chunk_base;
                    view_numel *= new[view_d as usize];
                    view_d -= 1;
                }
                if view_numel != tensor_numel {
                    return None;
                }
                if tensor_d > 0 {
                    chunk_base = self.strides[tensor_d - 1];
                    tensor_numel = 1;
                    view_numel = 1;
                }
            }
        }
        if view_d != -1 {
            return None;
        }
        Some(Layout {
            shape: shape.clone(),
            strides,
            offset: self.offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_numpy() {
        let s = Shape::broadcast("add", &Shape::new([3, 1, 5]), &Shape::new([4, 1])).unwrap();
        assert_eq!(s, Shape::new([3, 4, 5]));
        let e = Shape::broadcast("add", &Shape::new([2, 3]), &Shape::new([3, 2])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "add: shapes do not broadcast: lhs [2, 3], rhs [3, 2]"
        );
    }

    #[test]
    fn layout_views_agree_with_index_math() {
        let l = Layout::contiguous(Shape::new([2, 3]));
        let t = l.permute(&[1, 0]);
        assert!(!t.is_contiguous());
        // t[i][j] = l[j][i] at j*3 + i
        assert_eq!(t.position(1), 3); // t[0][1]
        assert_eq!(t.position(2), 1); // t[1][0]
        let e = Layout::contiguous(Shape::new([3])).expand(&Shape::new([2, 3]));
        assert_eq!(e.strides, vec![0, 1]);
        assert_eq!(e.position(4), 1);
        assert_eq!(e.span_end(), 3);
    }

    #[test]
    fn reshape_keeps_views_where_strides_allow() {
        let t = Layout::contiguous(Shape::new([3, 4])).permute(&[1, 0]); // [4, 3] strides [1, 4]
        let v = t.reshape(&Shape::new([1, 4, 3])).unwrap();
        assert_eq!(v.strides[1..], [1, 4]); // a size-1 axis's stride is never used
        assert!(t.reshape(&Shape::new([12])).is_none());
        let c = Layout::contiguous(Shape::new([2, 3, 4]));
        assert_eq!(c.reshape(&Shape::new([6, 4])).unwrap().strides, vec![4, 1]);
        // every reshape view must address the same elements as the row-major order of the original
        let e = Layout::contiguous(Shape::new([3])).expand(&Shape::new([2, 3]));
        let r = e.reshape(&Shape::new([2, 1, 3])).unwrap();
        for i in 0..6 {
            assert_eq!(r.position(i), e.position(i));
        }
        assert!(e.reshape(&Shape::new([6])).is_none());
    }
}
