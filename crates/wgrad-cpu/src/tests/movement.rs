//! copy, pad, cat.

use wgrad_graph::{DType, Kernels, Shape};

use super::{k, meta, read, T};

#[test]
fn copy_makes_strided_views_contiguous() {
    // x = [[1, 2, 3], [4, 5, 6]]; x^T = [[1, 4], [2, 5], [3, 6]]; copy into [6] (a reshape of a strided view).
    let x = T::f64([2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let t = x.view(x.layout.permute(&[1, 0]));
    let out = k().copy(t.input(), &meta([6], DType::F64)).unwrap();
    assert_eq!(read(&out), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    // Element counts must agree.
    assert!(k().copy(t.input(), &meta([5], DType::F64)).is_err());
}

#[test]
fn pad_hand_values() {
    // [1, 2] with 1 before and 2 after, value 9: [9, 1, 2, 9, 9].
    let x = T::f64([2], &[1.0, 2.0]);
    let out = k()
        .pad(&[1], 9.0, x.input(), &meta([5], DType::F64))
        .unwrap();
    assert_eq!(read(&out), [9.0, 1.0, 2.0, 9.0, 9.0]);
    // [[1, 2], [3, 4]] with (before, after) = (1, 0) rows and (0, 1) columns, value 0:
    // [[0, 0, 0], [1, 2, 0], [3, 4, 0]].
    let y = T::f64([2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let out = k()
        .pad(&[1, 0], 0.0, y.input(), &meta([3, 3], DType::F64))
        .unwrap();
    assert_eq!(read(&out), [0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 0.0]);
}

#[test]
fn pad_reads_an_offset_view() {
    // The last two elements of [5, 6, 7] (offset 1), padded by one -1 on each side: [-1, 6, 7, -1].
    let x = T::f64([3], &[5.0, 6.0, 7.0]);
    let v = x.view(x.layout.slice(&[1], &[1], &Shape::new([2])));
    let out = k()
        .pad(&[1], -1.0, v.input(), &meta([4], DType::F64))
        .unwrap();
    assert_eq!(read(&out), [-1.0, 6.0, 7.0, -1.0]);
}

#[test]
fn cat_hand_values() {
    // [[1], [2]] ++ [[3, 4], [5, 6]] ++ [2, 0] along axis 1: [[1, 3, 4], [2, 5, 6]].
    let a = T::f64([2, 1], &[1.0, 2.0]);
    let b = T::f64([2, 2], &[3.0, 4.0, 5.0, 6.0]);
    let e = T::f64([2, 0], &[]);
    let out = k()
        .cat(
            1,
            &[a.input(), e.input(), b.input()],
            &meta([2, 3], DType::F64),
        )
        .unwrap();
    assert_eq!(read(&out), [1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
    // Along axis 0: [[1], [2]] ++ [[1], [2]] = [1, 2, 1, 2].
    let out = k()
        .cat(0, &[a.input(), a.input()], &meta([4, 1], DType::F64))
        .unwrap();
    assert_eq!(read(&out), [1.0, 2.0, 1.0, 2.0]);
    // Mismatched sizes outside the axis are an error, not a panic.
    assert!(k()
        .cat(0, &[a.input(), b.input()], &meta([4, 1], DType::F64))
        .is_err());
}
