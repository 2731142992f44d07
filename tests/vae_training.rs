//! The `vae` example's model and loss: the closed-form KL term must be non-negative and equal a host
//! computation (zero exactly at the prior), its gradient must reach the encoder through the
//! reparameterized sample, and a short training run must raise the ELBO of held-out digits by a wide margin.

#[path = "../examples/vae/models.rs"]
#[allow(dead_code)]
mod models;

use models::{kl_divergence, Vae, PIXELS};
use wgrad::data::Mnist;
use wgrad::nn::{AdamConfig, Module, Optimizer};
use wgrad::{no_grad, realize, Device, Tensor};

fn own_cpu() -> Device {
    Device::new(wgrad::cpu::CpuBackend)
}

fn digits(data: &Mnist, start: usize, n: usize, dev: &Device) -> Tensor {
    let px: Vec<f32> = (start..start + n)
        .flat_map(|i| data.image(i).iter().map(|&b| f32::from(b) / 255.0))
        .collect();
    Tensor::from_slice(&px, [n, PIXELS], dev).expect("digits")
}

/// `½ Σ_k (μ² + e^{log σ²} − log σ² − 1)` on the host.
fn host_kl(mu: &[f32], logvar: &[f32], d: usize) -> Vec<f64> {
    mu.chunks(d)
        .zip(logvar.chunks(d))
        .map(|(m, l)| {
            m.iter()
                .zip(l)
                .map(|(&m, &l)| {
                    let (m, l) = (f64::from(m), f64::from(l));
                    0.5 * (m * m + l.exp() - l - 1.0)
                })
                .sum()
        })
        .collect()
}

fn kl_matches_host(dev: &Device, rtol: f64) {
    let (n, d) = (64, 5);
    // μ in [-3, 3], log σ² in [-4, 2]; the first row is the prior itself (KL exactly 0)
    let mu: Vec<f32> = (0..n * d)
        .map(|i| {
            if i < d {
                0.0
            } else {
                ((i * 37 % 61) as f32 / 10.0) - 3.0
            }
        })
        .collect();
    let logvar: Vec<f32> = (0..n * d)
        .map(|i| {
            if i < d {
                0.0
            } else {
                ((i * 53 % 67) as f32 / 11.0) - 4.0
            }
        })
        .collect();
    let kl = kl_divergence(
        &Tensor::from_slice(&mu, [n, d], dev).expect("mu"),
        &Tensor::from_slice(&logvar, [n, d], dev).expect("logvar"),
    )
    .expect("kl")
    .to_f64_vec()
    .expect("values");
    let want = host_kl(&mu, &logvar, d);
    assert_eq!(kl[0], 0.0, "KL of the prior against itself");
    for (i, (&got, &w)) in kl.iter().zip(&want).enumerate() {
        assert!(got >= 0.0, "negative KL {got} at row {i}");
        assert!(
            (got - w).abs() <= rtol * w.abs().max(1e-3),
            "row {i}: {got} vs host {w}"
        );
    }
}

#[test]
fn kl_term_is_nonnegative_and_matches_the_host_on_cpu() {
    kl_matches_host(&own_cpu(), 1e-6);
}

#[test]
fn kl_term_is_nonnegative_and_matches_the_host_on_wgpu() {
    let Some(backend) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    kl_matches_host(&Device::new(backend), 1e-4);
}

/// The negative ELBO of `x` averaged over 4 draws of ε (a fixed seed, so before and after see the same ε).
fn neg_elbo(model: &Vae, x: &Tensor, dev: &Device) -> (f64, f64) {
    dev.manual_seed(99);
    no_grad(|| {
        let (mut total, mut kl) = (0.0, 0.0);
        for _ in 0..4 {
            let l = model.loss(x).expect("loss");
            realize(&[&l.total, &l.kl]).expect("realize");
            total += l.total.item().expect("total") / 4.0;
            kl += l.kl.item().expect("kl") / 4.0;
        }
        (total, kl)
    })
}

#[test]
fn elbo_of_held_out_digits_rises_with_training() {
    let Some(backend) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    let dev = Device::new(backend);
    let (train, test) = Mnist::bundled_split().expect("data");
    dev.manual_seed(0);
    let model = Vae::new(128, 4, &dev).expect("model");
    let held_out = digits(&test, 0, 256, &dev);
    let (before, _) = neg_elbo(&model, &held_out, &dev);
    let mut opt = Optimizer::new(
        model.parameters(),
        AdamConfig {
            lr: 2e-3,
            ..Default::default()
        },
    );
    // the encoder gets a gradient through z = μ + σ·ε (reparameterization), not only through the KL term
    let x = digits(&train, 0, 64, &dev);
    let loss = model.loss(&x).expect("loss");
    loss.reconstruction.backward().expect("backward");
    for p in [&model.parameters()[0], &model.parameters()[2]] {
        let g = p.grad().expect("encoder gradient").abs().expect("abs");
        assert!(g.sum_all().expect("sum").item().expect("sum") > 0.0);
    }
    opt.zero_grad();
    for step in 0..80 {
        let x = digits(&train, (step * 64) % (train.len() - 64), 64, &dev);
        let l = opt.backward_step(&model.loss(&x).expect("loss").total);
        assert!(l.expect("step").item().expect("loss").is_finite());
    }
    let (after, kl) = neg_elbo(&model, &held_out, &dev);
    eprintln!(
        "held-out ELBO {:.1} → {:.1} nats (KL {kl:.2})",
        -before, -after
    );
    // an untrained decoder costs about 784·ln 2 ≈ 543 nats; blurry class-agnostic digits cost ~200
    assert!(after < before - 200.0, "ELBO {} → {}", -before, -after);
    assert!(kl > 0.0, "the posterior collapsed onto the prior (KL {kl})");
}
