//! The `autoencoder` example's model and losses: short training runs must reconstruct well below the
//! mean-image baseline and denoise (output closer to the clean digit than the noisy input is), and the
//! contractive penalty computed by autodiff (double backward) must equal the closed form of a sigmoid
//! layer, in value and in its gradient with respect to the weights; the one-probe estimate must be
//! unbiased.

#[path = "../examples/autoencoder/models.rs"]
#[allow(dead_code)]
mod models;

use models::{
    add_noise, jacobian_penalty, jacobian_penalty_closed_form, jacobian_penalty_estimate, loss,
    Autoencoder, Kind, PIXELS,
};
use wgrad::data::Mnist;
use wgrad::nn::{mse_loss, AdamConfig, Forward, Module, Optimizer};
use wgrad::{grad, no_grad, Device, Tensor};

fn own_cpu() -> Device {
    Device::new(wgrad::cpu::CpuBackend)
}

/// `n` digits from `data` starting at `start`, pixels in [0, 1], as `[n, 784]`.
fn digits(data: &Mnist, start: usize, n: usize, dev: &Device) -> Tensor {
    let px: Vec<f32> = (start..start + n)
        .flat_map(|i| data.image(i).iter().map(|&b| f32::from(b) / 255.0))
        .collect();
    Tensor::from_slice(&px, [n, PIXELS], dev).expect("digits")
}

/// Trains a 784-128-784 autoencoder of `kind` (the example's size) for `steps` steps of 64 digits
/// (Adam 2e-2, the example's rate).
fn trained(kind: Kind, steps: usize, train: &Mnist, dev: &Device) -> Autoencoder {
    dev.manual_seed(0);
    let model = Autoencoder::new(128, dev).expect("model");
    let mut opt = Optimizer::new(
        model.parameters(),
        AdamConfig {
            lr: 2e-2,
            ..Default::default()
        },
    );
    for step in 0..steps {
        let x = digits(train, (step * 64) % (train.len() - 64), 64, dev);
        let l = opt.backward_step(&loss(&model, kind, &x).expect("loss"));
        assert!(l.expect("step").item().expect("loss").is_finite());
    }
    model
}

fn mse(a: &Tensor, b: &Tensor) -> f64 {
    no_grad(|| mse_loss(a, b)?.item()).expect("mse")
}

#[test]
fn plain_autoencoder_reconstructs_well_below_the_mean_image_baseline() {
    let Some(backend) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    let dev = Device::new(backend);
    let (train, test) = Mnist::bundled_split().expect("data");
    let model = trained(Kind::Plain, 125, &train, &dev);
    let x = digits(&test, 0, 500, &dev);
    // the mean training image, predicted for every test digit
    let mean: Vec<f32> = (0..PIXELS)
        .map(|p| {
            (0..train.len())
                .map(|i| f32::from(train.image(i)[p]) / 255.0)
                .sum::<f32>()
                / train.len() as f32
        })
        .collect();
    let mean = Tensor::from_slice(&mean, [1, PIXELS], &dev)
        .expect("mean")
        .expand([500, PIXELS])
        .expect("expand");
    let baseline = mse(&mean, &x);
    let reconstruction = mse(&no_grad(|| model.forward(&x)).expect("forward"), &x);
    eprintln!("test MSE {reconstruction:.4}, mean-image baseline {baseline:.4}");
    assert!(
        reconstruction < 0.6 * baseline,
        "reconstruction MSE {reconstruction} vs baseline {baseline}"
    );
}

#[test]
fn denoising_autoencoder_output_is_closer_to_the_clean_digit_than_its_input() {
    let Some(backend) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    let dev = Device::new(backend);
    let (train, test) = Mnist::bundled_split().expect("data");
    let sigma = 0.3;
    let model = trained(Kind::Denoising { sigma }, 250, &train, &dev);
    let clean = digits(&test, 0, 500, &dev);
    dev.manual_seed(7);
    let noisy = add_noise(&clean, sigma)
        .expect("noise")
        .realize()
        .expect("realize")
        .clone();
    let input_error = mse(&noisy, &clean);
    let output_error = mse(&no_grad(|| model.forward(&noisy)).expect("forward"), &clean);
    eprintln!("noisy input MSE {input_error:.4}, denoised MSE {output_error:.4}");
    assert!(
        output_error < 0.8 * input_error,
        "denoised MSE {output_error} vs noisy input {input_error}"
    );
}

/// A small untrained model with larger weights than the default init, so the sigmoids are away from
/// their linear middle and the penalty's terms differ.
fn jacobian_setup(dev: &Device) -> (Autoencoder, Tensor) {
    dev.manual_seed(3);
    let model = Autoencoder::new(12, dev).expect("model");
    let w = model.encoder.weight.tensor().mul(8.0).expect("scale");
    model.encoder.weight.set(&w).expect("set");
    let (_, test) = Mnist::bundled_split().expect("data");
    (model, digits(&test, 0, 5, dev))
}

fn close(a: &[f64], b: &[f64], rtol: f64) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= rtol * y.abs().max(1e-6))
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().expect("values")
}

/// The autodiff penalty and the closed form, per sample; then the gradients of their batch means with
/// respect to the encoder weight (double backward for the first, plain backward for the second).
fn penalty_and_grads(dev: &Device) -> [Vec<f64>; 4] {
    let (model, x) = jacobian_setup(dev);
    let autodiff = jacobian_penalty(&model, &x).expect("autodiff");
    let closed = jacobian_penalty_closed_form(&model, &x).expect("closed form");
    let w = model.encoder.weight.tensor();
    let ga = grad(&autodiff.mean_all().expect("mean"), &[&w], None).expect("grad")[0]
        .clone()
        .expect("the penalty depends on W");
    let gc = grad(&closed.mean_all().expect("mean"), &[&w], None).expect("grad")[0]
        .clone()
        .expect("the closed form depends on W");
    [values(&autodiff), values(&closed), values(&ga), values(&gc)]
}

#[test]
fn contractive_penalty_by_autodiff_equals_the_closed_form_on_cpu() {
    let [autodiff, closed, ga, gc] = penalty_and_grads(&own_cpu());
    eprintln!("‖J‖²_F autodiff {autodiff:?}, closed form {closed:?}");
    assert!(
        closed.iter().all(|&v| v > 1e-3),
        "degenerate setup: {closed:?}"
    );
    assert!(
        close(&autodiff, &closed, 1e-5),
        "{autodiff:?} vs {closed:?}"
    );
    let (worst, scale) = worst_difference(&ga, &gc);
    assert!(
        worst <= 1e-5 * scale,
        "gradients with respect to W differ by {worst} (largest {scale})"
    );
}

/// The largest absolute difference between `a` and `b`, and the largest magnitude in `b`.
fn worst_difference(a: &[f64], b: &[f64]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    eprintln!("gradients: worst difference {worst:e}, largest {scale:e}");
    (worst, scale)
}

#[test]
fn contractive_penalty_by_autodiff_equals_the_closed_form_on_wgpu() {
    let Some(backend) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    let [autodiff, closed, ga, gc] = penalty_and_grads(&Device::new(backend));
    assert!(
        close(&autodiff, &closed, 1e-3),
        "{autodiff:?} vs {closed:?}"
    );
    let (worst, scale) = worst_difference(&ga, &gc);
    assert!(
        worst <= 1e-3 * scale,
        "gradients differ by {worst} (largest {scale})"
    );
}

#[test]
fn contractive_penalty_estimate_is_unbiased() {
    // 4000 probes: the 5 digits repeated 800 times, each copy with its own random signs
    let dev = own_cpu();
    let (model, x) = jacobian_setup(&dev);
    let copies = x
        .unsqueeze(0)
        .and_then(|t| t.expand([800, 5, PIXELS]))
        .and_then(|t| t.reshape([4000, PIXELS]))
        .expect("copies");
    dev.manual_seed(11);
    let estimates = values(&jacobian_penalty_estimate(&model, &copies).expect("estimate"));
    let exact = values(&jacobian_penalty_closed_form(&model, &x).expect("closed form"));
    for (s, &want) in exact.iter().enumerate() {
        let mean = estimates.iter().skip(s).step_by(5).sum::<f64>() / 800.0;
        assert!(
            (mean - want).abs() <= 0.06 * want,
            "digit {s}: mean estimate {mean} vs exact {want}"
        );
    }
}
