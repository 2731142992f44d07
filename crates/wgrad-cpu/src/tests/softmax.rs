//! softmax, log_softmax and their backward kernels.

use wgrad_graph::{DType, Kernels, Shape};

use super::{assert_close, k, meta, rand_vec, read, T};

fn forward(axis: usize, log: bool, x: &T) -> Vec<f64> {
    let out = meta(x.shape().clone(), x.dtype);
    read(&k().softmax(axis, log, x.input(), &out).unwrap())
}

#[test]
fn softmax_hand_values() {
    // softmax([0, ln 3]) = [1, 3] / 4.
    let x = T::f64([2], &[0.0, 3f64.ln()]);
    assert_close(&forward(0, false, &x), &[0.25, 0.75], 1e-15, "softmax");
    // log_softmax([1000, 0, -1000]): m = 1000, Σ e^(x - m) = 1 + e^-1000 + e^-2000 = 1 (in f64), so
    // [0, -1000, -2000]; without the max subtraction e^1000 = inf and the result would be NaN.
    let x = T::f64([3], &[1000.0, 0.0, -1000.0]);
    assert_eq!(forward(0, true, &x), [0.0, -1000.0, -2000.0]);
    assert_eq!(forward(0, false, &x), [1.0, 0.0, 0.0]);
}

#[test]
fn softmax_along_a_middle_axis_sums_to_one() {
    let x = T::rand([3, 17, 2], 9);
    let y = forward(1, false, &x);
    for (i, j) in (0..3).flat_map(|i| (0..2).map(move |j| (i, j))) {
        let s: f64 = (0..17).map(|l| y[(i * 17 + l) * 2 + j]).sum();
        assert!((s - 1.0).abs() < 1e-14, "lane ({i}, {j}) sums to {s}");
    }
    // log_softmax is the log of softmax.
    let z = forward(1, true, &x);
    let ln_y: Vec<f64> = y.iter().map(|v| v.ln()).collect();
    assert_close(&z, &ln_y, 1e-13, "log_softmax = ln softmax");
}

/// The backward kernels against central differences of `L(x) = <f(x), dy>`, f64, eps 1e-6.
#[test]
fn softmax_backward_matches_finite_differences() {
    for (case, (shape, axis)) in [
        (vec![3usize, 5, 2], 1usize),
        (vec![17], 0),
        (vec![1, 3], 1),
        (vec![3, 1], 1),
    ]
    .into_iter()
    .enumerate()
    {
        let shape = Shape::new(shape);
        let x = rand_vec(case as u64, shape.numel());
        let dy = T::f64(shape.clone(), &rand_vec(case as u64 + 40, shape.numel()));
        for log in [false, true] {
            let loss = |xs: &[f64]| -> f64 {
                let y = forward(axis, log, &T::f64(shape.clone(), xs));
                y.iter().zip(dy.values()).map(|(a, b)| a * b).sum()
            };
            let y = T::f64(
                shape.clone(),
                &forward(axis, log, &T::f64(shape.clone(), &x)),
            );
            let out = meta(shape.clone(), DType::F64);
            let dx = read(
                &k().softmax_backward(axis, log, y.input(), dy.input(), &out)
                    .unwrap(),
            );
            let eps = 1e-6;
            let fd: Vec<f64> = (0..x.len())
                .map(|i| {
                    let (mut p, mut m) = (x.clone(), x.clone());
                    p[i] += eps;
                    m[i] -= eps;
                    (loss(&p) - loss(&m)) / (2.0 * eps)
                })
                .collect();
            assert_close(
                &dx,
                &fd,
                1e-7,
                &format!("log {log} shape {shape} axis {axis}"),
            );
        }
    }
}

#[test]
fn softmax_rejects_integers() {
    let x = T::i32([2], &[1, 2]);
    assert!(k()
        .softmax(0, false, x.input(), &meta([2], DType::I32))
        .is_err());
}
