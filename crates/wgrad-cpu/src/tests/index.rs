//! gather and scatter_add.

use wgrad_graph::{DType, Error, Kernels, Shape};

use super::{assert_close, dot, k, meta, rand_below, rand_vec, read, T};

#[test]
fn gather_hand_values() {
    // PyTorch's example: x = [[1, 2], [3, 4]], index = [[0, 0], [1, 0]] along dim 1:
    // out[i][j] = x[i][index[i][j]] = [[1, 1], [4, 3]].
    let x = T::f64([2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let i = T::i32([2, 2], &[0, 0, 1, 0]);
    let out = k()
        .gather(1, x.input(), i.input(), &meta([2, 2], DType::F64))
        .unwrap();
    assert_eq!(read(&out), [1.0, 1.0, 4.0, 3.0]);
    // Along dim 0 with a smaller index [1, 2] = [[1, 0]]: out[0][j] = x[index[0][j]][j] = [3, 2].
    let i = T::i32([1, 2], &[1, 0]);
    let out = k()
        .gather(0, x.input(), i.input(), &meta([1, 2], DType::F64))
        .unwrap();
    assert_eq!(read(&out), [3.0, 2.0]);
}

#[test]
fn scatter_add_hand_values() {
    // Zeros [2, 3]; index [[0, 2, 0], [1, 1, 1]] along dim 1 with src [[1, 2, 3], [4, 5, 6]]:
    // row 0: out[0][0] += 1 + 3, out[0][2] += 2 -> [4, 0, 2]; row 1: out[1][1] += 4 + 5 + 6 -> [0, 15, 0].
    let i = T::i32([2, 3], &[0, 2, 0, 1, 1, 1]);
    let s = T::f64([2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let out = k()
        .scatter_add(1, i.input(), s.input(), &meta([2, 3], DType::F64))
        .unwrap();
    assert_eq!(read(&out), [4.0, 0.0, 2.0, 0.0, 15.0, 0.0]);
}

#[test]
fn gather_out_of_range_is_an_index_error() {
    let x = T::f64([2, 5], &[0.0; 10]);
    for (bad, text) in [(7, "7"), (5, "5"), (-1, "-1")] {
        let i = T::i32([2, 1], &[0, bad]);
        let e = k()
            .gather(1, x.input(), i.input(), &meta([2, 1], DType::F64))
            .unwrap_err();
        assert!(matches!(e, Error::Index { op: "gather", .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("gather: index {text} out of range for dim 1 of shape [2, 5]")
        );
        let e = k()
            .scatter_add(1, i.input(), i.input(), &meta([2, 5], DType::I32))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("scatter_add: index {text} out of range for dim 1 of shape [2, 5]")
        );
    }
}

/// `<gather(x, i), g> = <x, scatter_add(i, g)>` for random shapes, axes and indices (repeats included).
#[test]
fn gather_scatter_add_are_adjoint() {
    let dims = [1, 3, 17];
    for case in 0..20u64 {
        let xs: Vec<usize> = (0..3).map(|d| dims[rand_below(case, d, 3)]).collect();
        let axis = rand_below(case, 5, 3);
        // Index dims: any size along `axis`, at most x's size elsewhere.
        let is: Vec<usize> = (0..3)
            .map(|d| {
                if d == axis {
                    dims[rand_below(case, 6 + d as u64, 3)]
                } else {
                    1 + rand_below(case, 9 + d as u64, xs[d])
                }
            })
            .collect();
        let n = Shape::new(is.clone()).numel();
        let index: Vec<i64> = (0..n as u64)
            .map(|j| rand_below(case + 100, j, xs[axis]) as i64)
            .collect();
        let (x, i) = (T::rand(xs.clone(), case), T::i32(is.clone(), &index));
        let g = T::f64(is.clone(), &rand_vec(case + 7, n));
        let gx = k()
            .gather(axis, x.input(), i.input(), &meta(is.clone(), DType::F64))
            .unwrap();
        let sg = k()
            .scatter_add(axis, i.input(), g.input(), &meta(xs.clone(), DType::F64))
            .unwrap();
        let (lhs, rhs) = (dot(&read(&gx), &g.values()), dot(&x.values(), &read(&sg)));
        assert_close(
            &[lhs],
            &[rhs],
            1e-12,
            &format!("x {xs:?} index {is:?} axis {axis}"),
        );
    }
}
