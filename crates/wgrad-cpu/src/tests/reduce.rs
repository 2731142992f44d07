//! sum, max, min, argmax, argmin.

use wgrad_graph::{DType, Kernels, Layout, ReduceOp, Shape};

use super::{assert_close, k, meta, rand_below, read, T};

fn reduce(op: ReduceOp, axes: &[usize], x: &T) -> Vec<f64> {
    let mut shape = x.shape().0.clone();
    for &a in axes {
        shape[a] = 1;
    }
    let dtype = match op {
        ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I32,
        _ => x.dtype,
    };
    read(
        &k().reduce(op, axes, x.input(), &meta(shape, dtype))
            .unwrap(),
    )
}

#[test]
fn sum_hand_values() {
    // x = [[1, 2, 3], [4, 5, 6]]: column sums [5, 7, 9], row sums [6, 15], total 21.
    let x = T::f64([2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(reduce(ReduceOp::Sum, &[0], &x), [5.0, 7.0, 9.0]);
    assert_eq!(reduce(ReduceOp::Sum, &[1], &x), [6.0, 15.0]);
    assert_eq!(reduce(ReduceOp::Sum, &[0, 1], &x), [21.0]);
    assert_eq!(reduce(ReduceOp::Max, &[1], &x), [3.0, 6.0]);
    assert_eq!(reduce(ReduceOp::Min, &[0], &x), [1.0, 2.0, 3.0]);
}

#[test]
fn sum_of_empty_axis_is_zero() {
    let x = T::f64([2, 0], &[]);
    assert_eq!(reduce(ReduceOp::Sum, &[1], &x), [0.0, 0.0]);
}

#[test]
fn sum_integers_wrap() {
    // i32::MAX + 1 wraps to i32::MIN.
    let x = T::i32([2], &[i32::MAX as i64, 1]);
    assert_eq!(reduce(ReduceOp::Sum, &[0], &x), [i32::MIN as f64]);
}

#[test]
fn sum_f32_accumulates_in_f64() {
    // 2^24 + 1 + 1: f32 accumulation would lose each 1 (2^24 + 1 rounds to 2^24); f64 gets 2^24 + 2 exactly.
    let x = T::new([3], DType::F32, &[16_777_216.0, 1.0, 1.0]);
    assert_eq!(reduce(ReduceOp::Sum, &[0], &x), [16_777_218.0]);
}

#[test]
fn argmax_returns_first_extreme() {
    // Ties: [1, 3, 3, 2] has maxima at 1 and 2 -> 1; [2, 1, 1, 5] has minima at 1 and 2 -> 1.
    let x = T::f64([2, 4], &[1.0, 3.0, 3.0, 2.0, 2.0, 1.0, 1.0, 5.0]);
    assert_eq!(reduce(ReduceOp::ArgMax, &[1], &x), [1.0, 3.0]);
    assert_eq!(reduce(ReduceOp::ArgMin, &[1], &x), [0.0, 1.0]);
    // Along axis 0: column pairs (1,2) (3,1) (3,1) (2,5).
    assert_eq!(reduce(ReduceOp::ArgMax, &[0], &x), [1.0, 0.0, 0.0, 1.0]);
    assert_eq!(reduce(ReduceOp::ArgMin, &[0], &x), [0.0, 1.0, 1.0, 0.0]);
}

#[test]
fn max_and_argmax_treat_nan_as_the_extreme() {
    let x = T::f64([4], &[1.0, f64::NAN, 5.0, f64::NAN]);
    assert!(reduce(ReduceOp::Max, &[0], &x)[0].is_nan());
    assert_eq!(reduce(ReduceOp::ArgMax, &[0], &x), [1.0]);
    assert_eq!(reduce(ReduceOp::ArgMin, &[0], &x), [1.0]);
}

/// A multi-axis reduction equals reducing one axis at a time, on permuted and broadcast views of odd shapes.
#[test]
fn reduce_over_several_axes_of_strided_views() {
    let dims = [1, 3, 17];
    for case in 0..12u64 {
        let shape: Vec<usize> = (0..4).map(|i| dims[rand_below(case, i, 3)]).collect();
        let base = T::rand(shape.clone(), case);
        // A permuted view: reverse the axes.
        let x = base.view(base.layout.permute(&[3, 2, 1, 0]));
        let axes: Vec<usize> = (0..4)
            .filter(|&a| rand_below(case, 10 + a as u64, 2) == 1)
            .collect();
        for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
            let got = reduce(op, &axes, &x);
            // One axis at a time, from a contiguous copy.
            let mut step = T::f64(x.shape().clone(), &x.values());
            for &a in &axes {
                let v = reduce(op, &[a], &step);
                let mut s = step.shape().0.clone();
                s[a] = 1;
                step = T::f64(s, &v);
            }
            let what = format!("{} over {axes:?} of {}", op.name(), x.shape());
            assert_close(&got, &step.values(), 1e-12, &what);
        }
    }
}

#[test]
fn sum_over_broadcast_axis_multiplies() {
    // b [3] expanded to [5, 3] (stride 0 on axis 0): summing axis 0 gives 5·b; max gives b.
    let b = T::f64([3], &[1.0, -2.0, 0.5]);
    let x = b.view(b.layout.expand(&Shape::new([5, 3])));
    assert_eq!(reduce(ReduceOp::Sum, &[0], &x), [5.0, -10.0, 2.5]);
    assert_eq!(reduce(ReduceOp::Max, &[0], &x), [1.0, -2.0, 0.5]);
    // A sliced view with an offset: rows 1.. of a [3, 2] buffer = [[3, 4], [5, 6]]; sum = 18.
    let y = T::f64([3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let s = y.view(Layout {
        shape: Shape::new([2, 2]),
        strides: vec![2, 1],
        offset: 2,
    });
    assert_eq!(reduce(ReduceOp::Sum, &[0, 1], &s), [18.0]);
}
