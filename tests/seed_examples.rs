//! The worked examples of `shared/seed-examples.md` that concern the core (the nn ones live in
//! crates/wgrad-nn/tests): each is exact, computed on the CPU reference in f64.

mod common;

use wgrad::{grad, DType, Tensor};

fn t(values: &[f64], shape: &[usize]) -> Tensor {
    common::tensor(values, shape, DType::F64, &common::cpu())
}

fn p(values: &[f64], shape: &[usize]) -> Tensor {
    t(values, shape).with_grad().unwrap()
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol, "{a:?} != {b:?}");
    }
}

/// Seed example 1: f = (x + y)·z at (-2, 5, -4): f = -12, ∂f/∂x = ∂f/∂y = z = -4, ∂f/∂z = x + y = 3.
#[test]
fn seed01_gradient_of_a_product_of_a_sum() {
    let (x, y, z) = (p(&[-2.0], &[]), p(&[5.0], &[]), p(&[-4.0], &[]));
    let f = ((&x + &y).unwrap() * &z).unwrap();
    assert_eq!(f.item().unwrap(), -12.0);
    f.backward().unwrap();
    let g = |v: &Tensor| v.grad().unwrap().item().unwrap();
    assert_eq!((g(&x), g(&y), g(&z)), (-4.0, -4.0, 3.0));
}

/// Seed example 2: XOR with one ReLU layer: relu(XW + c)·w + b = [0, 1, 1, 0].
#[test]
fn seed02_xor_with_one_relu_layer() {
    let x = t(&[0., 0., 0., 1., 1., 0., 1., 1.], &[4, 2]);
    let w1 = t(&[1., 1., 1., 1.], &[2, 2]);
    let c = t(&[0., -1.], &[2]);
    let w2 = t(&[1., -2.], &[2]);
    let xw = x.matmul(&w1).unwrap();
    assert_eq!(
        xw.to_vec::<f64>().unwrap(),
        vec![0., 0., 1., 1., 1., 1., 2., 2.]
    );
    let h = (&xw + &c).unwrap();
    assert_eq!(
        h.to_vec::<f64>().unwrap(),
        vec![0., -1., 1., 0., 1., 0., 2., 1.]
    );
    let out = h.relu().unwrap().matmul(&w2).unwrap().add(0.0).unwrap();
    assert_eq!(out.to_vec::<f64>().unwrap(), vec![0., 1., 1., 0.]);
}

/// Seed example 3: L(w) = (1.5w - 0.5)², dL/dw = 4.5w - 1.5, lr 0.1 from w = 0.8: 0.59, 0.4745, … → 1/3.
#[test]
fn seed03_scalar_gradient_descent() {
    let expected = [0.59, 0.4745, 0.410975, 0.37603625, 0.3568199375];
    let mut w = 0.8;
    for step in 0..200 {
        let wt = p(&[w], &[]);
        let loss = wt.mul(1.5).unwrap().sub(0.5).unwrap();
        let loss = loss.mul(&loss).unwrap();
        loss.backward().unwrap();
        let g = wt.grad().unwrap().item().unwrap();
        assert!((g - (4.5 * w - 1.5)).abs() < 1e-12);
        w -= 0.1 * g;
        if step < expected.len() {
            assert!((w - expected[step]).abs() < 1e-12, "step {step}: {w}");
        }
    }
    assert!((w - 1.0 / 3.0).abs() < 1e-12);
}

/// Seed example 4: One linear-regression step (bias gradient summed over the batch).
#[test]
fn seed04_one_linear_regression_step() {
    let x = t(&[1., 3., 6., 5.], &[4]);
    let y = t(&[4., 8., 14., 13.], &[4]);
    let (w, b) = (p(&[5.0], &[]), p(&[1.0], &[]));
    let yhat = x.mul(&w).unwrap().add(&b).unwrap();
    assert_eq!(yhat.to_vec::<f64>().unwrap(), vec![6., 16., 31., 26.]);
    let r = (&yhat - &y).unwrap();
    let j = r.mul(&r).unwrap().mul(0.5).unwrap().mean_all().unwrap();
    assert_eq!(j.item().unwrap(), 65.75);
    j.backward().unwrap();
    let (gw, gb) = (
        w.grad().unwrap().item().unwrap(),
        b.grad().unwrap().item().unwrap(),
    );
    assert_eq!((gw, gb), (48.25, 10.0));
    close(&[5.0 - 0.01 * gw, 1.0 - 0.01 * gb], &[4.5175, 0.9], 1e-12);
}

/// Seed example 7: σ' = σ(1 - σ); tanh z = 2σ(2z) - 1; softmax([z, 0])₀ = σ(z); log-softmax stays finite at ±1000.
#[test]
fn seed07_identities() {
    let zs: Vec<f64> = (-6..=6).map(|i| i as f64 * 0.7).collect();
    let z = p(&zs, &[zs.len()]);
    let s = z.sigmoid().unwrap();
    s.sum_all().unwrap().backward().unwrap();
    let sv = s.to_vec::<f64>().unwrap();
    let expect: Vec<f64> = sv.iter().map(|s| s * (1.0 - s)).collect();
    close(&z.grad().unwrap().to_vec::<f64>().unwrap(), &expect, 1e-15);
    let tanh = z.tanh().unwrap().to_vec::<f64>().unwrap();
    let via_sigmoid = z
        .mul(2.0)
        .unwrap()
        .sigmoid()
        .unwrap()
        .mul(2.0)
        .unwrap()
        .sub(1.0)
        .unwrap();
    close(&tanh, &via_sigmoid.to_vec::<f64>().unwrap(), 1e-15);
    let pair = Tensor::stack(&[&z.detach(), &z.zeros_like()], 1)
        .unwrap()
        .softmax(1)
        .unwrap();
    close(
        &pair.narrow(1, 0, 1).unwrap().to_vec::<f64>().unwrap(),
        &sv,
        1e-15,
    );
    let ls = t(&[1000., 0., -1000.], &[3])
        .log_softmax(0)
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    assert_eq!(ls, vec![0.0, -1000.0, -2000.0]);
}

/// Seed example 8: f = ‖Wx‖², q = Wx: ∇_W f = 2·q·xᵀ, ∇_x f = 2·Wᵀ·q.
#[test]
fn seed08_gradients_of_a_squared_norm() {
    let wv = common::uniform(12, 8, -1.0, 1.0);
    let xv = common::uniform(4, 9, -1.0, 1.0);
    let (w, x) = (p(&wv, &[3, 4]), p(&xv, &[4]));
    let q = w.matmul(&x).unwrap();
    q.mul(&q).unwrap().sum_all().unwrap().backward().unwrap();
    let qv: Vec<f64> = (0..3)
        .map(|i| (0..4).map(|j| wv[i * 4 + j] * xv[j]).sum())
        .collect();
    let gw: Vec<f64> = (0..12).map(|k| 2.0 * qv[k / 4] * xv[k % 4]).collect();
    let gx: Vec<f64> = (0..4)
        .map(|j| (0..3).map(|i| 2.0 * wv[i * 4 + j] * qv[i]).sum())
        .collect();
    close(&w.grad().unwrap().to_vec::<f64>().unwrap(), &gw, 1e-12);
    close(&x.grad().unwrap().to_vec::<f64>().unwrap(), &gx, 1e-12);
}

/// Seed example 9: A 280×320 image convolved with the 1×2 kernel [1, -1]: 280×319 outputs, 3 flops each.
#[test]
fn seed09_edge_detection_by_convolution() {
    let img = common::uniform(280 * 320, 10, 0.0, 1.0);
    let x = t(&img, &[1, 1, 280, 320]);
    let k = t(&[1.0, -1.0], &[1, 1, 1, 2]);
    let y = x.conv2d(&k, None, Default::default()).unwrap();
    assert_eq!(y.dims(), &[1, 1, 280, 319]);
    assert_eq!(y.numel(), 89_320);
    assert_eq!(3 * y.numel(), 267_960);
    let out = y.to_vec::<f64>().unwrap();
    for (r, c) in [(0, 0), (17, 200), (279, 318)] {
        assert_eq!(out[r * 319 + c], img[r * 320 + c] - img[r * 320 + c + 1]);
    }
}

/// Seed example 10: x' = x + ε·sign(∇ₓ J): the gradient with respect to the input raises the loss.
#[test]
fn seed10_adversarial_step_uses_the_input_gradient() {
    let w = t(&common::uniform(8, 11, -1.0, 1.0), &[8, 1]);
    let x = p(&common::uniform(8, 12, -1.0, 1.0), &[1, 8]);
    let loss = |x: &Tensor| {
        // logistic loss for label 1: -log σ(xw)
        x.matmul(&w)
            .unwrap()
            .sigmoid()
            .unwrap()
            .log()
            .unwrap()
            .neg()
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let j = loss(&x);
    let gx = grad(&j, &[&x], None).unwrap().remove(0).unwrap();
    let x_adv = x
        .detach()
        .add(gx.sign().unwrap().mul(0.1).unwrap())
        .unwrap();
    assert!(loss(&x_adv).item().unwrap() > j.item().unwrap());
}

/// Solves a small dense system by Gaussian elimination with partial pivoting (host side, for the test).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let piv = (c..n)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap();
        a.swap(c, piv);
        b.swap(c, piv);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            let pivot_row = a[c].clone();
            for (ark, ack) in a[r].iter_mut().zip(&pivot_row).skip(c) {
                *ark -= f * ack;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        x[r] = (b[r] - (r + 1..n).map(|k| a[r][k] * x[k]).sum::<f64>()) / a[r][r];
    }
    x
}

/// Seed example 11: Normal equations on the housing data, then mini-batch gradient descent on standardized
/// features reaching the same prediction for (4000, 4).
#[test]
fn seed11_normal_equations_and_minibatch_descent_agree() {
    let rows = [
        [2104., 3., 400.],
        [1600., 3., 330.],
        [2400., 3., 369.],
        [1416., 2., 232.],
        [3000., 4., 540.],
    ];
    let xv: Vec<f64> = rows.iter().flat_map(|r| [1.0, r[0], r[1]]).collect();
    let yv: Vec<f64> = rows.iter().map(|r| r[2]).collect();
    let (x, y) = (t(&xv, &[5, 3]), t(&yv, &[5]));
    let xtx = x.t().unwrap().matmul(&x).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(
        xtx,
        vec![5., 10520., 15., 10520., 23751872., 33144., 15., 33144., 47.]
    );
    let xty = x.t().unwrap().matmul(&y).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(xty, vec![1871., 4203712., 5921.]);
    let w = solve(xtx.chunks(3).map(|r| r.to_vec()).collect(), xty);
    close(&w, &[-70.43460183, 0.06384337562, 103.43604651], 1e-7);
    let predict = w[0] + 4000.0 * w[1] + 4.0 * w[2];
    assert!((predict - 598.683087).abs() < 1e-5, "{predict}");

    // Standardize the features, then mini-batch SGD (batches of 2, cycling) on the mean squared error.
    let feats: Vec<[f64; 2]> = rows.iter().map(|r| [r[0], r[1]]).collect();
    let mean: Vec<f64> = (0..2)
        .map(|j| feats.iter().map(|f| f[j]).sum::<f64>() / 5.0)
        .collect();
    let std: Vec<f64> = (0..2)
        .map(|j| (feats.iter().map(|f| (f[j] - mean[j]).powi(2)).sum::<f64>() / 5.0).sqrt())
        .collect();
    let zs: Vec<f64> = feats
        .iter()
        .flat_map(|f| [(f[0] - mean[0]) / std[0], (f[1] - mean[1]) / std[1]])
        .collect();
    let (mut wv, mut b) = (vec![0.0, 0.0], 0.0);
    for step in 0..8000 {
        let idx = [(2 * step) % 5, (2 * step + 1) % 5];
        let xb = t(
            &[
                zs[idx[0] * 2],
                zs[idx[0] * 2 + 1],
                zs[idx[1] * 2],
                zs[idx[1] * 2 + 1],
            ],
            &[2, 2],
        );
        let yb = t(&[yv[idx[0]], yv[idx[1]]], &[2]);
        let (wt, bt) = (p(&wv, &[2]), p(&[b], &[]));
        let r = xb.matmul(&wt).unwrap().add(&bt).unwrap().sub(&yb).unwrap();
        r.mul(&r).unwrap().mean_all().unwrap().backward().unwrap();
        let gw = wt.grad().unwrap().to_vec::<f64>().unwrap();
        // Step decay, so the cycling mini-batch noise dies out and descent settles on the least-squares fit.
        let lr = [0.05, 0.01, 0.002, 0.0004][step / 2000];
        wv = vec![wv[0] - lr * gw[0], wv[1] - lr * gw[1]];
        b -= lr * bt.grad().unwrap().item().unwrap();
    }
    let z = [(4000.0 - mean[0]) / std[0], (4.0 - mean[1]) / std[1]];
    let gd = b + wv[0] * z[0] + wv[1] * z[1];
    assert!(
        (gd - 598.683087).abs() < 0.02,
        "mini-batch descent predicts {gd}"
    );
}

/// Seed example 15: Scaled dot-product attention: scores 112 and 96 over √64 = 8 are 14 and 12; softmax [0.880797,
/// 0.119203].
#[test]
fn seed15_scaled_dot_product_attention() {
    let dev = common::cpu();
    let q = Tensor::ones([1, 64], DType::F64, &dev);
    let k = Tensor::cat(
        &[
            &Tensor::full([1, 64], 1.75, DType::F64, &dev),
            &Tensor::full([1, 64], 1.5, DType::F64, &dev),
        ],
        0,
    )
    .unwrap();
    let scores = q.matmul(&k.t().unwrap()).unwrap();
    assert_eq!(scores.to_vec::<f64>().unwrap(), vec![112.0, 96.0]);
    let attn = scores
        .div(8.0)
        .unwrap()
        .softmax(-1)
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    close(&attn, &[0.880797, 0.119203], 1e-6);
}

/// Seed example 16: All-reduce (sum) of four workers' vectors: everyone ends with [37, 37, 36, 43].
#[test]
fn seed16_all_reduce_sum() {
    let workers = t(
        &[
            17., 11., 1., 9., 5., 13., 23., 14., 3., 6., 10., 8., 12., 7., 2., 12.,
        ],
        &[4, 4],
    );
    let total = workers.sum(&[0], true).unwrap();
    let everyone = total.expand([4, 4]).unwrap().to_vec::<f64>().unwrap();
    for w in everyone.chunks(4) {
        assert_eq!(w, &[37., 37., 36., 43.]);
    }
    let mean = workers.mean(&[0], false).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(mean, vec![9.25, 9.25, 9.0, 10.75]);
}
