//! A DCGAN on MNIST: `cargo run --release --example gan`.
//!
//! Trains a small DCGAN-style generator (transposed convolutions, batch norm, ReLU, tanh output) against
//! a convolutional discriminator (strided convolutions, leaky ReLU) on the bundled digits, with the
//! non-saturating generator loss and Adam (lr 2e-4, β₁ = 0.5), one discriminator step then one generator
//! step per batch. Prints the losses per epoch, writes a grid of samples from fixed noise every
//! `--every` epochs and a plot of the losses under `target/examples/gan/`.
//!
//! The default 5 epochs take about 2.5 minutes on a 2-core software adapter (lavapipe) and give rough
//! digit shapes; the samples sharpen with `--epochs 20` or more on a GPU. `--help` has the knobs.

#[path = "../common/mod.rs"]
mod common;
mod models;

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use common::plot::{image_grid, line_chart, Chart, Series};
use common::{device, output, progress_bar, BackendKind, BoxResult};
use models::{discriminator_loss, generator_loss, noise, Discriminator, Generator};
use wgrad::data::{Loader, LoaderConfig, Mnist};
use wgrad::nn::{AdamConfig, Forward, Module, Optimizer};
use wgrad::{no_grad, Tensor};

/// A DCGAN on MNIST.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Backend; default: the best GPU adapter, else the CPU.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// Noise dimensions.
    #[arg(long, default_value_t = 32)]
    latent: usize,
    /// Generator width c (feature maps 2c·7·7 → c·14·14 → 1·28·28).
    #[arg(long, default_value_t = 32)]
    g_channels: usize,
    /// Discriminator width d (feature maps d·14·14 → 2d·7·7).
    #[arg(long, default_value_t = 16)]
    d_channels: usize,
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam's learning rate (both networks).
    #[arg(long, default_value_t = 2e-4)]
    lr: f64,
    /// Adam's β₁ (DCGAN's 0.5; PyTorch's default 0.9 makes GANs oscillate).
    #[arg(long, default_value_t = 0.5)]
    beta1: f64,
    /// Write the sample grid every N epochs (and after the last).
    #[arg(long, default_value_t = 1)]
    every: usize,
    /// Train on the first N training digits only.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Directory for the pictures [default: target/examples/gan].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Means over an epoch's batches.
#[derive(Clone, Copy, Debug, Default)]
struct EpochStats {
    d_loss: f64,
    g_loss: f64,
    /// D's mean probability of "real" on real digits, and on generated ones (before D's step).
    d_real: f64,
    d_fake: f64,
}

fn sigmoid_mean(logits: &Tensor) -> wgrad::Result<f64> {
    let v = logits.to_vec::<f32>()?;
    Ok(v.iter()
        .map(|&l| 1.0 / (1.0 + (-f64::from(l)).exp()))
        .sum::<f64>()
        / v.len().max(1) as f64)
}

fn main() -> BoxResult<()> {
    let args = Args::parse();
    if args.latent == 0 || args.g_channels == 0 || args.d_channels == 0 || args.batch_size < 2 {
        return Err(
            "--latent, --g-channels and --d-channels must be positive, --batch-size at least 2"
                .into(),
        );
    }
    let dev = device(args.backend)?;
    let (train_set, _) = Mnist::bundled_split()?;
    let train_set = match args.limit {
        Some(n) if n < train_set.len() => train_set.split_at(n)?.0,
        _ => train_set,
    };
    // pixels in [-1, 1], the range of the generator's tanh: (byte/255 − 0.5) / 0.5
    let loader = Loader::new(
        &train_set,
        LoaderConfig {
            batch_size: args.batch_size,
            seed: args.seed,
            drop_last: true,
            normalize: Some((0.5, 0.5)),
            ..Default::default()
        },
    )?;
    dev.manual_seed(args.seed);
    let g = Generator::new(args.latent, args.g_channels, &dev)?;
    let d = Discriminator::new(args.d_channels, &dev)?;
    let adam = AdamConfig {
        lr: args.lr,
        beta1: args.beta1,
        ..Default::default()
    };
    let mut opt_g = Optimizer::new(g.parameters(), adam.clone());
    let mut opt_d = Optimizer::new(d.parameters(), adam);
    println!(
        "wgrad DCGAN: generator {} parameters, discriminator {}, {} training digits, {} epochs of {} batches of {}, \
         Adam {} β₁ {}, on {}",
        g.num_params(),
        d.num_params(),
        train_set.len(),
        args.epochs,
        loader.len(),
        args.batch_size,
        args.lr,
        args.beta1,
        dev.name()
    );
    let fixed = noise(64, args.latent, &dev)?.realize()?.clone();
    let dir = |file: &str| -> BoxResult<PathBuf> {
        match &args.out {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                Ok(d.join(file))
            }
            None => output(None, "gan", file),
        }
    };
    let mut history: Vec<EpochStats> = Vec::new();
    let start = Instant::now();
    for epoch in 0..args.epochs {
        let bar = progress_bar(
            train_set.len() as u64,
            format!("epoch {}/{}", epoch + 1, args.epochs),
        )?;
        let mut sum = EpochStats::default();
        for batch in loader.epoch(epoch) {
            let real = Tensor::from_slice(&batch.images, batch.shape.to_vec(), &dev)?;
            let fake = g.forward(&noise(batch.batch_size, args.latent, &dev)?)?;
            // discriminator step: real → 1, fake → 0 (fake detached)
            let (d_loss, real_logits, fake_logits) = discriminator_loss(&d, &real, &fake)?;
            sum.d_loss += opt_d
                .backward_step_with(&d_loss, &[&real_logits, &fake_logits])?
                .item()?;
            sum.d_real += sigmoid_mean(&real_logits)?;
            sum.d_fake += sigmoid_mean(&fake_logits)?;
            // generator step on the same samples, through the updated discriminator; its backward also
            // reaches D's parameters, whose gradients are dropped (PyTorch's D.zero_grad())
            sum.g_loss += opt_g.backward_step(&generator_loss(&d, &fake)?)?.item()?;
            opt_d.zero_grad();
            bar.inc(batch.batch_size as u64);
        }
        bar.finish_and_clear();
        let n = loader.len().max(1) as f64;
        let stats = EpochStats {
            d_loss: sum.d_loss / n,
            g_loss: sum.g_loss / n,
            d_real: sum.d_real / n,
            d_fake: sum.d_fake / n,
        };
        println!(
            "epoch {:>2}/{}: D loss {:.3}, G loss {:.3}, D(x) {:.2}, D(G(z)) {:.2}, {:.0} s",
            epoch + 1,
            args.epochs,
            stats.d_loss,
            stats.g_loss,
            stats.d_real,
            stats.d_fake,
            start.elapsed().as_secs_f64()
        );
        history.push(stats);
        if (epoch + 1) % args.every.max(1) == 0 || epoch + 1 == args.epochs {
            let images = no_grad(|| g.forward(&fixed))?.to_vec::<f32>()?;
            // tanh's [-1, 1] back to [0, 1]
            let images: Vec<Vec<f32>> = images
                .chunks(28 * 28)
                .map(|c| c.iter().map(|v| 0.5 * (v + 1.0)).collect())
                .collect();
            let path = dir(&format!("samples_epoch_{:02}.png", epoch + 1))?;
            image_grid(
                &path,
                &format!("DCGAN samples after epoch {} (fixed noise)", epoch + 1),
                &images,
                ((28, 28), 8, 2),
                &[],
            )?;
            println!("samples: {}", path.display());
        }
    }
    let per = |f: fn(&EpochStats) -> f64| history.iter().map(f).collect::<Vec<f64>>();
    let plot = dir("losses.png")?;
    line_chart(
        &plot,
        &Chart {
            title: "DCGAN on MNIST: losses per epoch".into(),
            x_label: "epoch".into(),
            y_label: "loss (binary cross-entropy)".into(),
            series: vec![
                Series::per_step("discriminator loss", &per(|s| s.d_loss)),
                Series::per_step("generator loss (non-saturating)", &per(|s| s.g_loss)),
            ],
            right: Some((
                "mean D output (probability of real)".into(),
                vec![
                    Series::per_step("D(x), real digits", &per(|s| s.d_real)),
                    Series::per_step("D(G(z)), generated", &per(|s| s.d_fake)),
                ],
            )),
        },
        (800, 500),
    )?;
    println!("plot: {}", plot.display());
    if wgrad::wgpu::profile::enabled() {
        eprintln!("{}", wgrad::wgpu::profile::report());
    }
    Ok(())
}
