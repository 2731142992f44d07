//! Finite-difference checks (f64, central differences) of the composites wgrad-nn builds: if a primitive's
//! backward rule in the core is wrong, these fail here with the layer that exposed it.

use wgrad_graph::{DType, Device, Result, Tensor};
use wgrad_nn::*;

use crate::{dev, t64, vals};

/// Checks d f(x)/dx from `backward` against central differences at `x0`.
fn gradcheck(d: &Device, x0: &[f64], shape: &[usize], f: impl Fn(&Tensor) -> Result<Tensor>) {
    let x = t64(x0, shape, d).with_grad().unwrap();
    f(&x).unwrap().backward().unwrap();
    let got = vals(&x.grad().expect("x has a gradient"));
    let eps = 1e-6;
    for i in 0..x0.len() {
        let at = |delta: f64| {
            let mut v = x0.to_vec();
            v[i] += delta;
            f(&t64(&v, shape, d)).unwrap().item().unwrap()
        };
        let num = (at(eps) - at(-eps)) / (2.0 * eps);
        assert!(
            (got[i] - num).abs() <= 1e-5 + 1e-3 * num.abs(),
            "index {i}: backward {}, finite difference {num}",
            got[i]
        );
    }
}

fn to64(p: &Param) {
    p.set(&p.tensor().cast(DType::F64).unwrap()).unwrap();
}

/// A fixed "random" weighting so the loss is not symmetric in its inputs.
fn weights(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| ((i * 7 + 3) % 11) as f64 / 5.0 - 1.0)
        .collect()
}

fn weighted_sum(y: &Tensor) -> Result<Tensor> {
    let w = t64(&weights(y.numel()), y.dims(), y.device());
    y.mul(&w)?.sum_all()
}

const X: [f64; 12] = [
    0.3, -1.2, 2.0, 0.7, -0.4, 1.1, -2.2, 0.05, 0.9, -0.6, 1.7, -1.3,
];

#[test]
fn batch_norm_2d_training_gradcheck() {
    let d = dev();
    let bn = BatchNormConfig::new(2).init_2d(&d).unwrap();
    bn.weight.set(&t64(&[1.5, -0.5], &[2], &d)).unwrap();
    for p in [&bn.bias, &bn.running_mean, &bn.running_var] {
        to64(p);
    }
    gradcheck(&d, &X, &[3, 2, 1, 2], |x| weighted_sum(&bn.forward(x)?));
}

#[test]
fn cross_entropy_with_smoothing_gradcheck() {
    let d = dev();
    let y = Tensor::from_vec(vec![2i32, 0, 3], [3], &d).unwrap();
    gradcheck(&d, &X, &[3, 4], |x| {
        cross_entropy_with(x, &y, 0.2, Reduction::Mean)
    });
}

#[test]
fn regression_losses_gradcheck() {
    let d = dev();
    let target = t64(&weights(12), &[12], &d);
    gradcheck(&d, &X, &[12], |x| huber_loss(x, &target, 0.8));
    gradcheck(&d, &X, &[12], |x| mse_loss(x, &target));
    let bits = t64(&X.map(|v| f64::from(v > 0.0)), &[12], &d);
    gradcheck(&d, &X, &[12], |x| {
        binary_cross_entropy_with_logits(x, &bits)
    });
}

#[test]
fn activations_gradcheck() {
    let d = dev();
    for a in [
        Activation::gelu(),
        Activation::gelu_tanh(),
        Activation::elu(),
        Activation::leaky_relu(),
        Activation::Softplus,
        Activation::Tanh,
        Activation::Sigmoid,
    ] {
        gradcheck(&d, &X, &[12], |x| weighted_sum(&a.forward(x)?));
    }
}

#[test]
fn conv_pool_linear_chain_gradcheck() {
    let d = dev();
    d.manual_seed(5);
    let conv = Conv2dConfig::new(1, 2, 2).init(&d).unwrap();
    to64(&conv.weight);
    to64(conv.bias.as_ref().unwrap());
    // Distinct, non-periodic inputs: a tie inside a max window would make finite differences meaningless.
    let x0: Vec<f64> = (0..16).map(|i| (i as f64 * 1.7 + 0.3).sin()).collect();
    gradcheck(&d, &x0, &[1, 1, 4, 4], |x| {
        let h = conv.forward(x)?.relu()?;
        let p = AvgPool2d::new(3).forward(&h)?;
        let m = MaxPool2d::new(3).forward(&h)?;
        weighted_sum(&p.add(&m)?)
    });
}
