//! The `gan` example's networks and losses in miniature: the generator's samples have the image shape and
//! lie in tanh's [-1, 1]; a discriminator step leaves the generator alone; a few discriminator steps teach
//! it to tell real digits from the (fixed) generator's samples, so its loss falls from 2·ln 2 and its
//! accuracy rises far above chance; a generator step against that discriminator, through the
//! non-saturating loss, raises D(G(z)).

#[path = "../examples/gan/models.rs"]
#[allow(dead_code)]
mod models;

use models::{discriminator_loss, generator_loss, noise, Discriminator, Generator};
use wgrad::data::{Loader, LoaderConfig, Mnist};
use wgrad::nn::{AdamConfig, Forward, Module, Optimizer};
use wgrad::{no_grad, Device, Tensor};

const LATENT: usize = 8;
const BATCH: usize = 32;

/// Real digits in [-1, 1], `BATCH` at a time.
fn real_batches(dev: &Device) -> Vec<Tensor> {
    let (train, _) = Mnist::bundled_split().expect("data");
    let (train, _) = train.split_at(BATCH * 12).expect("split");
    let config = LoaderConfig {
        batch_size: BATCH,
        normalize: Some((0.5, 0.5)),
        ..Default::default()
    };
    Loader::new(&train, config)
        .expect("loader")
        .epoch(0)
        .map(|b| Tensor::from_slice(&b.images, b.shape.to_vec(), dev).expect("batch"))
        .collect()
}

fn adam(params: Vec<wgrad::nn::Param>, lr: f64) -> Optimizer {
    Optimizer::new(
        params,
        AdamConfig {
            lr,
            beta1: 0.5,
            ..Default::default()
        },
    )
}

fn values(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().expect("values")
}

/// Fraction of real logits above 0 and fake logits below 0.
fn accuracy(real: &Tensor, fake: &Tensor) -> f64 {
    let (r, f) = (values(real), values(fake));
    let hits = r.iter().filter(|&&v| v > 0.0).count() + f.iter().filter(|&&v| v < 0.0).count();
    hits as f64 / (r.len() + f.len()) as f64
}

fn run(dev: &Device) {
    dev.manual_seed(0);
    let g = Generator::new(LATENT, 8, dev).expect("generator");
    let d = Discriminator::new(8, dev).expect("discriminator");
    let real = real_batches(dev);

    let samples = no_grad(|| g.forward(&noise(BATCH, LATENT, dev)?)).expect("samples");
    assert_eq!(samples.dims(), [BATCH, 1, 28, 28]);
    let v = values(&samples);
    assert!(
        v.iter().all(|x| (-1.0..=1.0).contains(x)),
        "outside tanh's range"
    );
    let spread =
        v.iter().fold(f32::MIN, |m, &x| m.max(x)) - v.iter().fold(f32::MAX, |m, &x| m.min(x));
    assert!(spread > 1e-3, "constant samples");

    // discriminator steps against a fixed generator; the generator must not move
    let g_before: Vec<Vec<f32>> = g.parameters().iter().map(|p| values(&p.tensor())).collect();
    let mut opt_d = adam(d.parameters(), 2e-3);
    let mut losses = Vec::new();
    for x in &real[..10] {
        let fake = g
            .forward(&noise(BATCH, LATENT, dev).expect("z"))
            .expect("fake");
        let (loss, rl, fl) = discriminator_loss(&d, x, &fake).expect("loss");
        let l = opt_d.backward_step_with(&loss, &[&rl, &fl]).expect("step");
        losses.push(l.item().expect("loss"));
    }
    let g_after: Vec<Vec<f32>> = g.parameters().iter().map(|p| values(&p.tensor())).collect();
    assert_eq!(
        g_before, g_after,
        "a discriminator step changed the generator"
    );
    assert!(losses.iter().all(|l| l.is_finite()));
    // at the start D knows nothing: its loss is 2·ln 2 ≈ 1.386
    assert!(
        (losses[0] - 2.0 * std::f64::consts::LN_2).abs() < 0.1,
        "first loss {}",
        losses[0]
    );

    // on fresh real digits and fresh samples D must now be right far more often than chance
    let fake = g
        .forward(&noise(BATCH, LATENT, dev).expect("z"))
        .expect("fake");
    let (loss, rl, fl) = no_grad(|| discriminator_loss(&d, &real[10], &fake)).expect("eval");
    let acc = accuracy(&rl, &fl);
    let loss = loss.item().expect("loss");
    eprintln!(
        "{}: D losses {losses:.3?}, held-out loss {loss:.3}, accuracy {acc:.2}",
        dev.name()
    );
    assert!(loss < 0.9, "D loss {loss} after 10 steps");
    assert!(acc > 0.8, "D accuracy {acc}");

    // a generator step against this discriminator raises D(G(z)) on the same noise
    let z = noise(BATCH, LATENT, dev)
        .expect("z")
        .realize()
        .expect("z")
        .clone();
    let d_of_g = |g: &Generator| -> f64 {
        let logits = no_grad(|| d.forward(&g.forward(&z)?)).expect("D(G(z))");
        let v = values(&logits);
        v.iter()
            .map(|&l| 1.0 / (1.0 + (-f64::from(l)).exp()))
            .sum::<f64>()
            / v.len() as f64
    };
    let before = d_of_g(&g);
    let mut opt_g = adam(g.parameters(), 2e-3);
    for _ in 0..3 {
        let gl = opt_g
            .backward_step(&generator_loss(&d, &g.forward(&z).expect("fake")).expect("loss"))
            .expect("step")
            .item()
            .expect("loss");
        assert!(gl.is_finite());
        opt_d.zero_grad();
    }
    let after = d_of_g(&g);
    eprintln!("D(G(z)) {before:.3} → {after:.3}");
    assert!(
        after > before,
        "generator steps did not fool D more: {before} → {after}"
    );
}

#[test]
fn gan_steps_on_cpu() {
    run(&Device::new(wgrad::cpu::CpuBackend));
}

#[test]
fn gan_steps_on_wgpu() {
    let Some(backend) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    run(&Device::new(backend));
}
