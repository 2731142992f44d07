//! A variational autoencoder on MNIST: `cargo run --release --example vae`.
//!
//! Trains an MLP VAE (Kingma & Welling 2014) on the bundled digits: Gaussian encoder, Bernoulli decoder,
//! standard normal prior, one reparameterized sample `z = μ + σ ⊙ ε` per digit (`ε` from the device's
//! random stream) and the KL term in closed form. Prints the ELBO (nats per digit, higher is better) with
//! its two parts per epoch and plots it; writes digits decoded from prior samples, test reconstructions
//! and, for a 2-D latent (the default), the decoded grid over the latent plane, under
//! `target/examples/vae/`.

#[path = "../common/mod.rs"]
mod common;
mod models;

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use common::plot::{image_grid, line_chart, Chart, Series};
use common::{device, output, progress_bar, BackendKind, BoxResult};
use models::{Vae, PIXELS};
use wgrad::data::{Loader, LoaderConfig, Mnist};
use wgrad::nn::{AdamConfig, Module, Optimizer};
use wgrad::{no_grad, realize, DType, Device, Tensor};

/// A variational autoencoder on MNIST.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Backend; default: the best GPU adapter, else the CPU.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// Latent dimensions (2 also draws the latent-plane grid).
    #[arg(long, default_value_t = 2)]
    latent: usize,
    /// Hidden units of the encoder and of the decoder.
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    #[arg(long, default_value_t = 15)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Train on the first N training digits only.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Directory for the pictures [default: target/examples/vae].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Means over an epoch, nats per digit.
#[derive(Clone, Copy, Debug, Default)]
struct Parts {
    reconstruction: f64,
    kl: f64,
}

impl Parts {
    fn elbo(&self) -> f64 {
        -(self.reconstruction + self.kl)
    }
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

fn pixels(images: &[f32], n: usize, dev: &Device) -> wgrad::Result<Tensor> {
    Tensor::from_slice(images, [n, PIXELS], dev)
}

/// The test ELBO's parts (one posterior sample per digit, drawn from `seed`).
fn evaluate(model: &Vae, test: &Mnist, seed: u64, dev: &Device) -> wgrad::Result<Parts> {
    dev.manual_seed(seed);
    no_grad(|| {
        let mut sum = Parts::default();
        for batch in loader(test, 500, false, 0)?.epoch(0) {
            let loss = model.loss(&pixels(&batch.images, batch.batch_size, dev)?)?;
            realize(&[&loss.reconstruction, &loss.kl])?;
            let w = batch.batch_size as f64;
            sum.reconstruction += w * loss.reconstruction.item()?;
            sum.kl += w * loss.kl.item()?;
        }
        let n = test.len() as f64;
        Ok(Parts {
            reconstruction: sum.reconstruction / n,
            kl: sum.kl / n,
        })
    })
}

/// Images `[n, 784]` decoded from the codes `z` (pixel means).
fn decode_images(model: &Vae, z: &Tensor) -> wgrad::Result<Vec<Vec<f32>>> {
    let out = no_grad(|| model.decode_mean(z))?.to_vec::<f32>()?;
    Ok(out.chunks(PIXELS).map(<[f32]>::to_vec).collect())
}

fn main() -> BoxResult<()> {
    let args = Args::parse();
    if args.latent == 0
        || args.hidden == 0
        || args.batch_size == 0
        || !(args.lr.is_finite() && args.lr > 0.0)
    {
        return Err("--latent, --hidden, --batch-size and --lr must be positive".into());
    }
    let dev = device(args.backend)?;
    let (train_set, test_set) = Mnist::bundled_split()?;
    let train_set = match args.limit {
        Some(n) if n < train_set.len() => train_set.split_at(n)?.0,
        _ => train_set,
    };
    dev.manual_seed(args.seed);
    let model = Vae::new(args.hidden, args.latent, &dev)?;
    println!(
        "wgrad VAE: 784-{h}-({d} μ, {d} log σ²) encoder, {d}-{h}-784 Bernoulli decoder ({} parameters), {} training / {} \
         test digits, {} epochs, batch {}, Adam {}, on {}",
        model.num_params(),
        train_set.len(),
        test_set.len(),
        args.epochs,
        args.batch_size,
        args.lr,
        dev.name(),
        h = args.hidden,
        d = args.latent,
    );
    let mut opt = Optimizer::new(
        model.parameters(),
        AdamConfig {
            lr: args.lr,
            ..Default::default()
        },
    );
    let batches = loader(&train_set, args.batch_size, true, args.seed)?;
    let (mut train_curve, mut test_curve) = (Vec::new(), Vec::new());
    let start = Instant::now();
    for epoch in 0..args.epochs {
        let bar = progress_bar(
            train_set.len() as u64,
            format!("epoch {}/{}", epoch + 1, args.epochs),
        )?;
        let mut sum = Parts::default();
        for (i, batch) in batches.epoch(epoch).enumerate() {
            let x = pixels(&batch.images, batch.batch_size, &dev)?;
            let loss = model.loss(&x)?;
            // the parts are realized in the step's schedule with the update
            opt.backward_step_with(&loss.total, &[&loss.reconstruction, &loss.kl])?;
            sum.reconstruction += loss.reconstruction.item()?;
            sum.kl += loss.kl.item()?;
            bar.inc(batch.batch_size as u64);
            bar.set_message(format!(
                "ELBO {:.2}",
                -(sum.reconstruction + sum.kl) / (i + 1) as f64
            ));
        }
        bar.finish_and_clear();
        let n = batches.len() as f64;
        let train = Parts {
            reconstruction: sum.reconstruction / n,
            kl: sum.kl / n,
        };
        let test = evaluate(&model, &test_set, args.seed + 1, &dev)?;
        println!(
            "epoch {:>2}/{}: ELBO train {:.2}, test {:.2} nats/digit (test reconstruction {:.2}, KL {:.2}), {:.0} s",
            epoch + 1,
            args.epochs,
            train.elbo(),
            test.elbo(),
            test.reconstruction,
            test.kl,
            start.elapsed().as_secs_f64()
        );
        train_curve.push(train);
        test_curve.push(test);
    }
    if let Some(last) = test_curve.last() {
        println!(
            "test ELBO {:.2} nats per digit after {} epochs ({:.0} s): −E[log p(x|z)] {:.2}, KL(q‖p) {:.2}",
            last.elbo(),
            args.epochs,
            start.elapsed().as_secs_f64(),
            last.reconstruction,
            last.kl
        );
    }

    let dir = |file: &str| -> BoxResult<PathBuf> {
        match &args.out {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                Ok(d.join(file))
            }
            None => output(None, "vae", file),
        }
    };
    let elbo = |c: &[Parts]| c.iter().map(Parts::elbo).collect::<Vec<f64>>();
    let kl = |c: &[Parts]| c.iter().map(|p| p.kl).collect::<Vec<f64>>();
    let curves = dir("elbo.png")?;
    line_chart(
        &curves,
        &Chart {
            title: format!("VAE on MNIST ({}-D latent): ELBO per epoch", args.latent),
            x_label: "epoch".into(),
            y_label: "ELBO (nats per digit)".into(),
            series: vec![
                Series::per_step("ELBO, training", &elbo(&train_curve)),
                Series::per_step("ELBO, test", &elbo(&test_curve)),
            ],
            right: Some((
                "KL(q(z|x) ‖ p(z)) (nats)".into(),
                vec![Series::per_step("KL term, test", &kl(&test_curve))],
            )),
        },
        (800, 500),
    )?;

    // samples from the prior
    dev.manual_seed(args.seed + 3);
    let z = Tensor::randn([100, args.latent], DType::F32, &dev)?;
    let samples = dir("samples.png")?;
    image_grid(
        &samples,
        &format!(
            "100 digits decoded from z ~ N(0, I), {}-D latent",
            args.latent
        ),
        &decode_images(&model, &z)?,
        ((28, 28), 10, 2),
        &[],
    )?;

    // reconstructions of the first 10 test digits (the posterior mean μ decoded)
    let shown: Vec<f32> = (0..10)
        .flat_map(|i| test_set.image(i).iter().map(|&b| f32::from(b) / 255.0))
        .collect();
    let x = pixels(&shown, 10, &dev)?;
    let (mu, _) = no_grad(|| model.encode(&x))?;
    let mut images: Vec<Vec<f32>> = shown.chunks(PIXELS).map(<[f32]>::to_vec).collect();
    images.extend(decode_images(&model, &mu)?);
    let recon = dir("reconstructions.png")?;
    image_grid(
        &recon,
        "Test digits and their reconstructions (decoded posterior mean)",
        &images,
        ((28, 28), 10, 3),
        &["input", "decoded μ"],
    )?;
    print!(
        "pictures: {}, {}, {}",
        curves.display(),
        samples.display(),
        recon.display()
    );

    if args.latent == 2 {
        let n = 15;
        let at = |i: usize| -2.0 + 4.0 * i as f32 / (n - 1) as f32;
        // row r has z₂ from +2 (top) to −2, column c has z₁ from −2 to +2
        let grid: Vec<f32> = (0..n * n)
            .flat_map(|k| [at(k % n), at(n - 1 - k / n)])
            .collect();
        let z = Tensor::from_slice(&grid, [n * n, 2], &dev)?;
        let labels: Vec<String> = (0..n)
            .map(|r| format!("z₂ = {:+.2}", at(n - 1 - r)))
            .collect();
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let plane = dir("latent_grid.png")?;
        image_grid(
            &plane,
            "Decoded latent plane: z₁ from −2 (left) to +2 (right)",
            &decode_images(&model, &z)?,
            ((28, 28), n, 2),
            &labels,
        )?;
        print!(", {}", plane.display());
    }
    println!();
    Ok(())
}
