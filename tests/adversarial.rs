//! The `adversarial` example's attack (its module, included with `#[path]`): the input gradient agrees with
//! finite differences through the model's own normalization, FGSM stays in the pixel range and the ε-ball,
//! and on a briefly trained CNN the gradient's signs bring the accuracy far lower than random signs of the
//! same size do. A wrong sign or a gradient taken in the normalized space would not beat the random signs.

#[path = "../examples/adversarial/attack.rs"]
#[allow(dead_code)]
mod attack;
#[path = "../examples/common/mod.rs"]
mod common;

use attack::{fgsm, input_gradient, logits, CnnConfig};
use wgrad::data::Mnist;
use wgrad::nn::{cross_entropy_with, Reduction};
use wgrad::{no_grad, DType, Device, Tensor};

fn own_cpu() -> Device {
    Device::new(wgrad::cpu::CpuBackend)
}

/// Two test digits as pixels in [0, 1], with their labels.
fn digits(dev: &Device) -> (Tensor, Tensor, Vec<f32>) {
    let (_, test) = Mnist::bundled_split().expect("bundled data");
    let loader = attack::pixel_loader(&test, 2, false, 0).expect("loader");
    let b = loader.epoch(0).next().expect("a batch");
    let (x, y) = attack::tensors(&b, dev).expect("tensors");
    (x, y, b.images)
}

#[test]
fn input_gradient_matches_finite_differences() {
    let dev = own_cpu();
    dev.manual_seed(3);
    let net = CnnConfig {
        channels: [2, 3],
        fc: 8,
    }
    .build(&dev)
    .expect("model");
    let (x, y, pixels) = digits(&dev);
    let g = input_gradient(&net, &x, &y)
        .expect("gradient")
        .to_vec::<f32>()
        .expect("values");
    let loss = |p: &[f32]| -> f64 {
        let t = Tensor::from_slice(p, x.dims().to_vec(), &dev).expect("tensor");
        no_grad(|| cross_entropy_with(&logits(&net, &t)?, &y, 0.0, Reduction::Sum))
            .expect("loss")
            .item()
            .expect("value")
    };
    // pixels with the largest gradients (well away from ReLU and max-pool kinks in practice), central
    // differences with h = 1e-2 in pixel units
    let mut order: Vec<usize> = (0..g.len()).collect();
    order.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
    let h = 1e-2f32;
    for &i in order.iter().take(6) {
        let (mut up, mut down) = (pixels.clone(), pixels.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (loss(&up) - loss(&down)) / (2.0 * f64::from(h));
        let analytic = f64::from(g[i]);
        assert!(
            (numeric - analytic).abs() <= 0.05 * analytic.abs() + 1e-3,
            "pixel {i}: autodiff {analytic}, finite differences {numeric}"
        );
    }
}

#[test]
fn fgsm_stays_in_the_pixel_range_and_the_eps_ball() {
    let dev = own_cpu();
    let x = Tensor::from_vec(vec![0.0f32, 0.05, 0.5, 0.95, 1.0, 0.3], [6], &dev).expect("x");
    let g = Tensor::from_vec(vec![-1.0f32, -2.0, 3.0, 0.5, 1.0, 0.0], [6], &dev).expect("g");
    let adv = fgsm(&x, &g, 0.1)
        .expect("fgsm")
        .to_vec::<f32>()
        .expect("values");
    let want = [0.0f32, 0.0, 0.6, 1.0, 1.0, 0.3]; // clamped at 0 and 1; sign(0) = 0 leaves a pixel alone
    for (a, w) in adv.iter().zip(want) {
        assert!((a - w).abs() < 1e-6, "{adv:?}");
    }
    let signs = attack::random_signs(&Tensor::zeros([1000], DType::F32, &dev), &dev)
        .expect("signs")
        .to_vec::<f32>()
        .expect("values");
    assert!(signs.iter().all(|s| *s == 1.0 || *s == -1.0));
    let plus = signs.iter().filter(|s| **s > 0.0).count();
    assert!((400..600).contains(&plus), "{plus} of 1000 are +1");
}

#[test]
fn fgsm_beats_random_noise_of_the_same_size() {
    let Some(backend) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    let dev = Device::new(backend);
    let (train, test) = Mnist::bundled_split().expect("bundled data");
    let (train, _) = train.split_at(2000).expect("split");
    let (test, _) = test.split_at(400).expect("split");
    dev.manual_seed(0);
    let mut net = CnnConfig::default().build(&dev).expect("model");
    attack::train(&net, &train, 2, 2e-3, 0, &dev).expect("train");
    let r = attack::robustness(&mut net, &test, &[0.2], &dev).expect("attack");
    eprintln!(
        "clean {:.4}, FGSM(0.2) {:.4}, random(0.2) {:.4}",
        r.clean, r.fgsm[0], r.random[0]
    );
    assert!(r.clean > 0.8, "clean accuracy {}", r.clean);
    assert!(
        r.random[0] > r.clean - 0.15,
        "random signs alone cost {}",
        r.clean - r.random[0]
    );
    assert!(
        r.fgsm[0] < r.random[0] - 0.3,
        "FGSM at ε = 0.2 leaves {} accuracy, random signs {}",
        r.fgsm[0],
        r.random[0]
    );
    assert!(r.fgsm[0] < 0.5 * r.clean);
}
