//! conv2d and its backward kernels.

use wgrad_graph::{Conv2dParams, DType, Kernels, Shape};

use super::{assert_close, dot, k, meta, rand_below, read, T};

fn conv(p: Conv2dParams, x: &T, w: &T) -> Vec<f64> {
    let (xs, ws) = (&x.shape().0, &w.shape().0);
    let oh = p.out_size(0, xs[2], ws[2]).unwrap();
    let ow = p.out_size(1, xs[3], ws[3]).unwrap();
    let out = meta([xs[0], ws[0], oh, ow], DType::F64);
    read(&k().conv2d(&p, x.input(), w.input(), &out).unwrap())
}

fn params(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dParams {
    Conv2dParams {
        stride: [stride; 2],
        padding: [padding; 2],
        dilation: [dilation; 2],
        groups,
    }
}

fn one_to_nine() -> T {
    T::f64([1, 1, 3, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
}

#[test]
fn conv2d_hand_values() {
    // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[1, 0], [0, 1]]: y[i][j] = x[i][j] + x[i+1][j+1]
    // = [[1+5, 2+6], [4+8, 5+9]]. Cross-correlation: the kernel is not flipped.
    let x = one_to_nine();
    let w = T::f64([1, 1, 2, 2], &[1.0, 0.0, 0.0, 1.0]);
    assert_eq!(conv(params(1, 0, 1, 1), &x, &w), [6.0, 8.0, 12.0, 14.0]);
    // Ones 2x2, padding 1, stride 2: windows over the zero-padded 5x5 start at padded (0,0), (0,2), (2,0),
    // (2,2), i.e. x rows/cols {-1,0}, {1,2}: [1], [2+3], [4+7], [5+6+8+9].
    let ones = T::f64([1, 1, 2, 2], &[1.0; 4]);
    assert_eq!(conv(params(2, 1, 1, 1), &x, &ones), [1.0, 5.0, 11.0, 28.0]);
    // Dilation 2 spreads the 2x2 kernel over the corners: 1 + 3 + 7 + 9.
    assert_eq!(conv(params(1, 0, 2, 1), &x, &ones), [20.0]);
}

#[test]
fn conv2d_groups_do_not_mix_channels() {
    // 2 groups of one channel: y0 = 10·x0, y1 = 100·x1 (groups = 1 would give both 10·x0 + … mixes).
    let x = T::f64([1, 2, 1, 1], &[2.0, 3.0]);
    let w = T::f64([2, 1, 1, 1], &[10.0, 100.0]);
    assert_eq!(conv(params(1, 0, 1, 2), &x, &w), [20.0, 300.0]);
}

#[test]
fn conv2d_backward_hand_values() {
    // One output pixel dy = 1 from a 2x2 input and kernel w = [[1, 2], [3, 4]]: y = Σ x·w, so dx = w and
    // dw = x.
    let dy = T::f64([1, 1, 1, 1], &[1.0]);
    let w = T::f64([1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let x = T::f64([1, 1, 2, 2], &[5.0, 6.0, 7.0, 8.0]);
    let p = params(1, 0, 1, 1);
    let dx = k().conv2d_backward_input(&p, dy.input(), w.input(), &meta([1, 1, 2, 2], DType::F64));
    assert_eq!(read(&dx.unwrap()), [1.0, 2.0, 3.0, 4.0]);
    let dw = k().conv2d_backward_weight(&p, x.input(), dy.input(), &meta([1, 1, 2, 2], DType::F64));
    assert_eq!(read(&dw.unwrap()), [5.0, 6.0, 7.0, 8.0]);
}

/// A random valid configuration with odd sizes, or `None` when the kernel does not fit.
fn config(case: u64) -> Option<(Conv2dParams, [usize; 4], [usize; 4])> {
    let pick = |i: u64, opts: &[usize]| opts[rand_below(case, i, opts.len())];
    let groups = pick(0, &[1, 1, 3]);
    let p = Conv2dParams {
        stride: [pick(1, &[1, 2, 3]), pick(2, &[1, 2])],
        padding: [pick(3, &[0, 1, 2]), pick(4, &[0, 1])],
        dilation: [pick(5, &[1, 2]), pick(6, &[1, 3])],
        groups,
    };
    let (c_in, c_out) = (groups * pick(7, &[1, 2]), groups * pick(8, &[1, 3]));
    let x = [
        pick(9, &[1, 2]),
        c_in,
        pick(10, &[1, 3, 17]),
        pick(11, &[1, 3, 17]),
    ];
    let w = [
        c_out,
        c_in / groups,
        pick(12, &[1, 2, 3]),
        pick(13, &[1, 3]),
    ];
    p.out_size(0, x[2], w[2])?;
    p.out_size(1, x[3], w[3])?;
    Some((p, x, w))
}

/// The textbook formula with signed coordinates, a second implementation independent of the tap walker.
fn naive_conv(p: &Conv2dParams, x: &T, w: &T, out: &Shape) -> Vec<f64> {
    let (xv, wv, xs, ws, ys) = (x.values(), w.values(), &x.shape().0, &w.shape().0, &out.0);
    let cin_g = ws[1];
    let mut y = Vec::new();
    for (n, co, oy, ox) in grid4(ys) {
        let g = co / (ys[1] / p.groups);
        let mut acc = 0.0;
        for (ci, ky, kx) in (0..cin_g)
            .flat_map(|c| (0..ws[2]).flat_map(move |a| (0..ws[3]).map(move |b| (c, a, b))))
        {
            let iy = (oy * p.stride[0] + ky * p.dilation[0]) as i64 - p.padding[0] as i64;
            let ix = (ox * p.stride[1] + kx * p.dilation[1]) as i64 - p.padding[1] as i64;
            if iy < 0 || ix < 0 || iy >= xs[2] as i64 || ix >= xs[3] as i64 {
                continue;
            }
            let c = g * cin_g + ci;
            let xi = ((n * xs[1] + c) * xs[2] + iy as usize) * xs[3] + ix as usize;
            acc += xv[xi] * wv[((co * cin_g + ci) * ws[2] + ky) * ws[3] + kx];
        }
        y.push(acc);
    }
    y
}

fn grid4(d: &[usize]) -> Vec<(usize, usize, usize, usize)> {
    let mut v = Vec::new();
    for a in 0..d[0] {
        for b in 0..d[1] {
            for c in 0..d[2] {
                for e in 0..d[3] {
                    v.push((a, b, c, e));
                }
            }
        }
    }
    v
}

#[test]
fn conv2d_matches_naive_formula() {
    let mut checked = 0;
    for case in 0..60u64 {
        let Some((p, xs, ws)) = config(case) else {
            continue;
        };
        let (x, w) = (T::rand(xs, case), T::rand(ws, case + 1000));
        let y = conv(p, &x, &w);
        let oh = p.out_size(0, xs[2], ws[2]).unwrap();
        let ow = p.out_size(1, xs[3], ws[3]).unwrap();
        let want = naive_conv(&p, &x, &w, &Shape::new([xs[0], ws[0], oh, ow]));
        assert_close(&y, &want, 1e-12, &format!("{p:?} x {xs:?} w {ws:?}"));
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} valid configurations");
}

/// `<conv2d(x, w), dy> = <x, backward_input(dy, w)> = <w, backward_weight(x, dy)>`.
#[test]
fn conv2d_backward_kernels_are_adjoint() {
    let mut checked = 0;
    for case in 0..60u64 {
        let Some((p, xs, ws)) = config(case) else {
            continue;
        };
        let (x, w) = (T::rand(xs, case), T::rand(ws, case + 1000));
        let ys = [
            xs[0],
            ws[0],
            p.out_size(0, xs[2], ws[2]).unwrap(),
            p.out_size(1, xs[3], ws[3]).unwrap(),
        ];
        let dy = T::rand(ys, case + 2000);
        let y = conv(p, &x, &w);
        let dx = k()
            .conv2d_backward_input(&p, dy.input(), w.input(), &meta(xs, DType::F64))
            .unwrap();
        let dw = k()
            .conv2d_backward_weight(&p, x.input(), dy.input(), &meta(ws, DType::F64))
            .unwrap();
        let what = format!("{p:?} x {xs:?} w {ws:?}");
        let forward = dot(&y, &dy.values());
        assert_close(&[dot(&x.values(), &read(&dx))], &[forward], 1e-12, &what);
        assert_close(&[dot(&w.values(), &read(&dw))], &[forward], 1e-12, &what);
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} valid configurations");
}

#[test]
fn conv2d_rejects_mismatched_shapes() {
    let x = one_to_nine();
    let w = T::f64([1, 2, 2, 2], &[0.0; 8]);
    let e = k().conv2d(
        &params(1, 0, 1, 1),
        x.input(),
        w.input(),
        &meta([1, 1, 2, 2], DType::F64),
    );
    assert!(e.is_err());
}
