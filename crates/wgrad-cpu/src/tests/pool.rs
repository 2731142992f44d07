//! max_pool2d, avg_pool2d and their backward kernels.

use wgrad_graph::{DType, Kernels, Pool2dParams};

use super::{assert_close, dot, k, meta, rand_below, read, T};

fn params(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Pool2dParams {
    Pool2dParams {
        kernel,
        stride,
        padding,
    }
}

fn out_shape(p: &Pool2dParams, xs: [usize; 4]) -> [usize; 4] {
    [
        xs[0],
        xs[1],
        p.out_size(0, xs[2]).unwrap(),
        p.out_size(1, xs[3]).unwrap(),
    ]
}

#[test]
fn max_pool_sends_gradient_to_first_maximum() {
    // One 2x2 window [[1, 3], [3, 2]]: max 3, first (row-major) at position 1, so dx = [0, dy, 0, 0].
    let x = T::f64([1, 1, 2, 2], &[1.0, 3.0, 3.0, 2.0]);
    let p = params([2, 2], [2, 2], [0, 0]);
    let y = k()
        .max_pool2d(&p, x.input(), &meta([1, 1, 1, 1], DType::F64))
        .unwrap();
    assert_eq!(read(&y), [3.0]);
    let dy = T::f64([1, 1, 1, 1], &[5.0]);
    let dx = k().max_pool2d_backward(&p, x.input(), dy.input(), &meta([1, 1, 2, 2], DType::F64));
    assert_eq!(read(&dx.unwrap()), [0.0, 5.0, 0.0, 0.0]);
}

#[test]
fn max_pool_overlapping_windows_accumulate() {
    // Row [1, 3, 2], kernel 1x2, stride 1: windows [1, 3] and [3, 2] both pick the 3, so dx = [0, 1 + 2, 0].
    let x = T::f64([1, 1, 1, 3], &[1.0, 3.0, 2.0]);
    let p = params([1, 2], [1, 1], [0, 0]);
    let y = k()
        .max_pool2d(&p, x.input(), &meta([1, 1, 1, 2], DType::F64))
        .unwrap();
    assert_eq!(read(&y), [3.0, 3.0]);
    let dy = T::f64([1, 1, 1, 2], &[1.0, 2.0]);
    let dx = k().max_pool2d_backward(&p, x.input(), dy.input(), &meta([1, 1, 1, 3], DType::F64));
    assert_eq!(read(&dx.unwrap()), [0.0, 3.0, 0.0]);
}

#[test]
fn max_pool_padding_never_wins() {
    // All-negative 2x2 input, kernel 2, stride 1, padding 1: padding is -inf, so the 3x3 output holds the
    // real elements: corners see one element each, edges two, the centre all four (max -1).
    let x = T::f64([1, 1, 2, 2], &[-1.0, -2.0, -3.0, -4.0]);
    let p = params([2, 2], [1, 1], [1, 1]);
    let y = k()
        .max_pool2d(&p, x.input(), &meta([1, 1, 3, 3], DType::F64))
        .unwrap();
    assert_eq!(
        read(&y),
        [-1.0, -1.0, -2.0, -1.0, -1.0, -2.0, -3.0, -3.0, -4.0]
    );
}

#[test]
fn avg_pool_counts_padding_as_zeros() {
    // Ones 2x2, kernel 2, stride 1, padding 1: every window divides by 4; corners hold 1 real element (1/4),
    // edges 2 (2/4), the centre 4 (4/4).
    let x = T::f64([1, 1, 2, 2], &[1.0; 4]);
    let p = params([2, 2], [1, 1], [1, 1]);
    let y = k()
        .avg_pool2d(&p, x.input(), &meta([1, 1, 3, 3], DType::F64))
        .unwrap();
    assert_eq!(read(&y), [0.25, 0.5, 0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 0.25]);
    // Backward of dy = ones: each input element lies in 4 windows, each passing 1/4: dx = 1.
    let dy = T::f64([1, 1, 3, 3], &[1.0; 9]);
    let dx = k().avg_pool2d_backward(&p, dy.input(), &meta([1, 1, 2, 2], DType::F64));
    assert_eq!(read(&dx.unwrap()), [1.0; 4]);
}

/// A random valid pooling over an odd-sized input, or `None` when the kernel does not fit.
fn config(case: u64) -> Option<(Pool2dParams, [usize; 4])> {
    let pick = |i: u64, opts: &[usize]| opts[rand_below(case, i, opts.len())];
    let kernel = [pick(0, &[1, 2, 3]), pick(1, &[1, 2, 3])];
    let p = params(
        kernel,
        [pick(2, &[1, 2, 3]), pick(3, &[1, 2])],
        [
            rand_below(case, 4, kernel[0] / 2 + 1),
            rand_below(case, 5, kernel[1] / 2 + 1),
        ],
    );
    let xs = [
        pick(6, &[1, 2]),
        pick(7, &[1, 3]),
        pick(8, &[1, 3, 17]),
        pick(9, &[1, 3, 17]),
    ];
    p.out_size(0, xs[2])?;
    p.out_size(1, xs[3])?;
    Some((p, xs))
}

/// `<avg_pool(x), dy> = <x, avg_pool_backward(dy)>`; for max pooling, each window's `dy` lands on an element
/// equal to the window's output, so `<x, max_pool_backward(x, dy)> = <max_pool(x), dy>`.
#[test]
fn pool_backward_kernels_are_adjoint() {
    let mut checked = 0;
    for case in 0..60u64 {
        let Some((p, xs)) = config(case) else {
            continue;
        };
        let ys = out_shape(&p, xs);
        let (x, dy) = (T::rand(xs, case), T::rand(ys, case + 500));
        let what = format!("{p:?} x {xs:?}");
        let y = read(
            &k().avg_pool2d(&p, x.input(), &meta(ys, DType::F64))
                .unwrap(),
        );
        let dx = read(
            &k().avg_pool2d_backward(&p, dy.input(), &meta(xs, DType::F64))
                .unwrap(),
        );
        assert_close(
            &[dot(&y, &dy.values())],
            &[dot(&x.values(), &dx)],
            1e-12,
            &what,
        );
        let y = read(
            &k().max_pool2d(&p, x.input(), &meta(ys, DType::F64))
                .unwrap(),
        );
        let dx = k().max_pool2d_backward(&p, x.input(), dy.input(), &meta(xs, DType::F64));
        let dx = read(&dx.unwrap());
        assert_close(
            &[dot(&y, &dy.values())],
            &[dot(&x.values(), &dx)],
            1e-12,
            &what,
        );
        // The gradient's total is conserved: every window passes its dy on exactly once.
        let total: f64 = dy.values().iter().sum();
        assert_close(&[dx.iter().sum::<f64>()], &[total], 1e-12, &what);
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} valid configurations");
}
