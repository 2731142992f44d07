//! Autoencoders on MNIST: `cargo run --release --example autoencoder`.
//!
//! Trains the same network (`784 → H sigmoid → 784 sigmoid`, pixels in [0, 1], mean squared error) three
//! ways on the bundled digits, then reports the test reconstruction error of each next to the error of
//! always predicting the mean training image:
//! - plain: reconstruct the input;
//! - denoising: reconstruct the clean digit from one with Gaussian noise added (σ = `--sigma`);
//! - contractive: reconstruct the input while keeping `‖∂h/∂x‖²_F` small, the squared Frobenius norm of
//!   the encoder's Jacobian, computed by autodiff with `wgrad::grad` and trained through (double backward).
//!   Training uses Hutchinson's one-probe estimate `‖Jᵀv‖²` (one extra backward pass; `--exact-jacobian`
//!   trains on the exact norm, H times the encoder's cost); after training the exact norm by autodiff is
//!   printed next to the closed form `Σ_j (h_j(1−h_j))² Σ_i W_ji²` of a sigmoid layer.
//!
//! Writes `reconstructions.png` (rows labelled: inputs, each model's reconstruction, the noisy inputs and
//! the denoising model's output) and `curves.png` (test error per epoch) under
//! `target/examples/autoencoder/`.

#[path = "../common/mod.rs"]
mod common;
mod models;

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use common::plot::{image_grid, line_chart, Chart, Series};
use common::{device, output, progress_bar, BackendKind, BoxResult};
use models::{add_noise, jacobian_penalty, jacobian_penalty_closed_form, loss, Autoencoder, Kind};
use wgrad::data::{Loader, LoaderConfig, Mnist};
use wgrad::nn::{mse_loss, AdamConfig, Forward, Module, Optimizer};
use wgrad::{no_grad, Device, Tensor};

/// Plain, denoising and contractive autoencoders on MNIST.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Backend; default: the best GPU adapter, else the CPU.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// Hidden units (the code size).
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    /// Epochs for each autoencoder.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 2e-2)]
    lr: f64,
    /// Standard deviation of the denoising autoencoder's input noise (pixels are in [0, 1]).
    #[arg(long, default_value_t = 0.3)]
    sigma: f64,
    /// Weight of the contractive penalty (the mean over the batch of ‖∂h/∂x‖²_F).
    #[arg(long, default_value_t = 0.01)]
    lambda: f64,
    /// Train the contractive autoencoder on the exact ‖∂h/∂x‖²_F (all H rows of the Jacobian, an encoder
    /// pass over H copies of the batch) instead of the one-probe estimate (one extra backward pass).
    #[arg(long)]
    exact_jacobian: bool,
    /// Train on the first N training digits only.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Directory for the pictures [default: target/examples/autoencoder].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// What a trained autoencoder measures on the test set.
#[derive(Debug)]
struct Outcome {
    kind: Kind,
    /// Test MSE per epoch (clean input).
    curve: Vec<f64>,
    /// Reconstructions of the shown digits (from the noisy ones for the denoising model).
    shown: Vec<Vec<f32>>,
    clean_mse: f64,
    /// MSE against the clean digit when the input is noisy.
    noisy_mse: f64,
    /// Mean ‖∂h/∂x‖²_F over the test set.
    jacobian: f64,
    seconds: f64,
}

/// Flattened `[n, 784]` pixels in [0, 1].
fn pixels(images: &[f32], n: usize, dev: &Device) -> wgrad::Result<Tensor> {
    Tensor::from_slice(images, [n, models::PIXELS], dev)
}

fn loader(
    data: &Mnist,
    batch_size: usize,
    shuffle: bool,
    seed: u64,
) -> wgrad::Result<Loader<&Mnist>> {
    Loader::new(
        data,
        LoaderConfig {
            batch_size,
            shuffle,
            seed,
            normalize: None,
            ..Default::default()
        },
    )
}

/// Test metrics: MSE on clean inputs, MSE of reconstructing clean digits from noisy ones, mean ‖J‖²_F
/// (closed form, cheap). The noise is redrawn from `seed`, so every model sees the same noisy digits.
fn evaluate(
    model: &Autoencoder,
    test: &Mnist,
    sigma: f64,
    seed: u64,
    dev: &Device,
) -> wgrad::Result<(f64, f64, f64)> {
    dev.manual_seed(seed);
    no_grad(|| {
        let (mut clean, mut noisy, mut jac) = (0.0, 0.0, 0.0);
        let batches = loader(test, 500, false, 0)?;
        for batch in batches.epoch(0) {
            let x = pixels(&batch.images, batch.batch_size, dev)?;
            let w = batch.batch_size as f64;
            clean += w * mse_loss(&model.forward(&x)?, &x)?.item()?;
            noisy += w * mse_loss(&model.forward(&add_noise(&x, sigma)?)?, &x)?.item()?;
            jac += jacobian_penalty_closed_form(model, &x)?.sum_all()?.item()?;
        }
        let n = test.len() as f64;
        Ok((clean / n, noisy / n, jac / n))
    })
}

fn train(
    kind: Kind,
    args: &Args,
    train_set: &Mnist,
    test_set: &Mnist,
    shown: &Tensor,
    dev: &Device,
) -> BoxResult<Outcome> {
    dev.manual_seed(args.seed);
    let model = Autoencoder::new(args.hidden, dev)?;
    let mut opt = Optimizer::new(
        model.parameters(),
        AdamConfig {
            lr: args.lr,
            ..Default::default()
        },
    );
    let batches = loader(train_set, args.batch_size, true, args.seed)?;
    let start = Instant::now();
    let mut curve = Vec::new();
    for epoch in 0..args.epochs {
        let bar = progress_bar(
            train_set.len() as u64,
            format!("{} epoch {}/{}", kind.name(), epoch + 1, args.epochs),
        )?;
        let mut sum = 0.0;
        for (i, batch) in batches.epoch(epoch).enumerate() {
            let x = pixels(&batch.images, batch.batch_size, dev)?;
            sum += opt.backward_step(&loss(&model, kind, &x)?)?.item()?;
            bar.inc(batch.batch_size as u64);
            bar.set_message(format!("loss {:.5}", sum / (i + 1) as f64));
        }
        bar.finish_and_clear();
        let (clean, _, _) = evaluate(&model, test_set, args.sigma, args.seed + 1, dev)?;
        println!(
            "{:>11} epoch {}/{}: training loss {:.5}, test MSE {clean:.5}",
            kind.name(),
            epoch + 1,
            args.epochs,
            sum / batches.len() as f64
        );
        curve.push(clean);
    }
    let seconds = start.elapsed().as_secs_f64();
    let (clean_mse, noisy_mse, jacobian) =
        evaluate(&model, test_set, args.sigma, args.seed + 1, dev)?;
    let input = match kind {
        Kind::Denoising { .. } => noisy_shown(shown, args)?,
        _ => shown.clone(),
    };
    let out = no_grad(|| model.forward(&input))?.to_vec::<f32>()?;
    if let Kind::Contractive { .. } = kind {
        // the penalty the model was trained with (autodiff) against the closed form, on the shown digits
        let autodiff = jacobian_penalty(&model, shown)?.mean_all()?.item()?;
        let closed = no_grad(|| {
            jacobian_penalty_closed_form(&model, shown)?
                .mean_all()?
                .item()
        })?;
        println!("contractive: ‖∂h/∂x‖²_F on the shown digits by autodiff {autodiff:.4}, closed form {closed:.4}");
    }
    Ok(Outcome {
        kind,
        curve,
        shown: out.chunks(models::PIXELS).map(<[f32]>::to_vec).collect(),
        clean_mse,
        noisy_mse,
        jacobian,
        seconds,
    })
}

/// The shown digits with noise drawn from a fixed seed (the same picture for every run).
fn noisy_shown(shown: &Tensor, args: &Args) -> wgrad::Result<Tensor> {
    shown.device().manual_seed(args.seed + 2);
    add_noise(shown, args.sigma)
}

/// The first test digit of each class, 0 to 9.
fn one_per_class(test: &Mnist) -> Vec<f32> {
    let mut out = Vec::new();
    for class in 0..10u8 {
        if let Some(i) = (0..test.len()).find(|&i| test.label(i) == class) {
            out.extend(test.image(i).iter().map(|&b| f32::from(b) / 255.0));
        }
    }
    out
}

fn main() -> BoxResult<()> {
    let args = Args::parse();
    if args.hidden == 0
        || args.batch_size == 0
        || !(args.lr.is_finite() && args.lr > 0.0)
        || args.sigma < 0.0
        || args.lambda < 0.0
    {
        return Err(
            "--hidden, --batch-size and --lr must be positive, --sigma and --lambda not negative"
                .into(),
        );
    }
    let dev = device(args.backend)?;
    let (train_set, test_set) = Mnist::bundled_split()?;
    let train_set = match args.limit {
        Some(n) if n < train_set.len() => train_set.split_at(n)?.0,
        _ => train_set,
    };
    println!(
        "wgrad autoencoders: 784-{}-784 (sigmoid), {} training / {} test digits, {} epochs each, batch {}, Adam {}, on {}",
        args.hidden,
        train_set.len(),
        test_set.len(),
        args.epochs,
        args.batch_size,
        args.lr,
        dev.name()
    );
    // the baseline: predict the mean training image for every digit
    let mean: Vec<f64> = (0..models::PIXELS)
        .map(|p| {
            (0..train_set.len())
                .map(|i| f64::from(train_set.image(i)[p]) / 255.0)
                .sum::<f64>()
                / train_set.len() as f64
        })
        .collect();
    let baseline = (0..test_set.len())
        .flat_map(|i| {
            test_set
                .image(i)
                .iter()
                .zip(&mean)
                .map(|(&b, m)| (f64::from(b) / 255.0 - m).powi(2))
        })
        .sum::<f64>()
        / (test_set.len() * models::PIXELS) as f64;
    println!("baseline (the mean training image for every digit): test MSE {baseline:.5}");

    let shown_pixels = one_per_class(&test_set);
    let shown = pixels(&shown_pixels, 10, &dev)?;
    let kinds = [
        Kind::Plain,
        Kind::Denoising { sigma: args.sigma },
        Kind::Contractive {
            lambda: args.lambda,
            exact: args.exact_jacobian,
        },
    ];
    let mut outcomes = Vec::new();
    for kind in kinds {
        outcomes.push(train(kind, &args, &train_set, &test_set, &shown, &dev)?);
    }

    println!("\ntest set ({} digits); noisy: Gaussian noise σ = {} added to the input, error against the clean digit", test_set.len(), args.sigma);
    println!(
        "{:<12} {:>10} {:>10} {:>12} {:>8}",
        "model", "MSE", "noisy MSE", "‖∂h/∂x‖²_F", "time"
    );
    for o in &outcomes {
        println!(
            "{:<12} {:>10.5} {:>10.5} {:>12.3} {:>7.0}s",
            o.kind.name(),
            o.clean_mse,
            o.noisy_mse,
            o.jacobian,
            o.seconds
        );
    }
    let noisy_input_mse = no_grad(|| -> wgrad::Result<f64> {
        dev.manual_seed(args.seed + 1);
        let mut sum = 0.0;
        for batch in loader(&test_set, 500, false, 0)?.epoch(0) {
            let x = pixels(&batch.images, batch.batch_size, &dev)?;
            sum += batch.batch_size as f64 * mse_loss(&add_noise(&x, args.sigma)?, &x)?.item()?;
        }
        Ok(sum / test_set.len() as f64)
    })?;
    println!("{:<12} {baseline:>10.5} {:>10} (mean image)\n{:<12} {:>10} {noisy_input_mse:>10.5} (the noisy input itself)", "baseline", "", "noise", "");

    let dir = |file: &str| -> BoxResult<PathBuf> {
        match &args.out {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                Ok(d.join(file))
            }
            None => output(None, "autoencoder", file),
        }
    };
    let mut images: Vec<Vec<f32>> = shown_pixels
        .chunks(models::PIXELS)
        .map(<[f32]>::to_vec)
        .collect();
    let mut labels = vec!["input"];
    for o in &outcomes {
        if let Kind::Denoising { .. } = o.kind {
            images.extend(
                noisy_shown(&shown, &args)?
                    .to_vec::<f32>()?
                    .chunks(models::PIXELS)
                    .map(<[f32]>::to_vec),
            );
            labels.push("noisy input");
        }
        images.extend(o.shown.iter().cloned());
        labels.push(match o.kind {
            Kind::Plain => "plain AE",
            Kind::Denoising { .. } => "denoising AE",
            Kind::Contractive { .. } => "contractive AE",
        });
    }
    let png = dir("reconstructions.png")?;
    image_grid(
        &png,
        &format!(
            "MNIST test digits and reconstructions (784-{}-784 autoencoders)",
            args.hidden
        ),
        &images,
        ((28, 28), 10, 3),
        &labels,
    )?;
    let mut series: Vec<Series> = outcomes
        .iter()
        .map(|o| Series::per_step(format!("{} AE", o.kind.name()), &o.curve))
        .collect();
    let n = args.epochs.max(1) as f64;
    series.push(Series::new(
        "mean-image baseline",
        vec![(1.0, baseline), (n, baseline)],
    ));
    let curves = dir("curves.png")?;
    line_chart(
        &curves,
        &Chart {
            title: "Autoencoders on MNIST: test reconstruction error".into(),
            x_label: "epoch".into(),
            y_label: "test MSE per pixel (clean input)".into(),
            series,
            right: None,
        },
        (800, 500),
    )?;
    println!("pictures: {} and {}", png.display(), curves.display());
    Ok(())
}
