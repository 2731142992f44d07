//! A character-level language model: `cargo run --release --example char_lm`.
//!
//! A small transformer with causal self-attention (`Auto`: fused kernels on GPUs) learns to predict the
//! next character of Shakespeare's *A Midsummer Night's Dream* (bundled, public domain, see README.md):
//! 90% of the play for training, the last 10% for validation. Each epoch prints the validation loss (nats
//! per character, every position of the validation windows) and the loss of predicting the character after
//! each window from the window alone; the end prints a sample generated from a prompt (temperature, top-k,
//! multinomial draws from the device's random stream, so `--seed` reproduces it on every backend).
//!
//! For scale: a model that ignores the context cannot beat the unigram entropy of the text, one that sees
//! only the current character not the bigram bound; both are printed. `--help` lists the options;
//! `WGRAD_PROFILE=1` prints the time per GPU kernel after training.

#[path = "../common/mod.rs"]
mod common;
mod data;
mod model;
mod train;

use clap::Parser;
use common::{device, progress_bar, BackendKind, BoxResult};
use data::{bigram_bound, split, unigram_bound, Vocab, TEXT};
use model::{Attention, CharTransformer, LmConfig};
use train::{generate, EpochReport, TrainConfig};
use wgrad::nn::{Module, SamplingConfig};

/// Train a small causal transformer on a Shakespeare play, character by character.
///
/// The defaults train in about a minute on a 2-core software adapter (lavapipe) and reach a validation
/// loss near 2.0 nats per character, below the bigram bound of 2.36 (see README.md).
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Backend; default: the best GPU adapter, else the CPU.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    #[arg(long, default_value_t = 6)]
    epochs: usize,
    #[arg(long, default_value_t = 50)]
    steps_per_epoch: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Characters per window (the attention's sequence length).
    #[arg(long, default_value_t = 32)]
    context: usize,
    #[arg(long, default_value_t = 64)]
    d_model: usize,
    #[arg(long, default_value_t = 4)]
    heads: usize,
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// Dropout (residual, feed-forward and attention weights). Attention dropout runs the composite attention
    /// path; at 0 training takes `Auto` (the fused kernels on GPUs).
    #[arg(long, default_value_t = 0.0)]
    dropout: f64,
    /// Peak learning rate (one-cycle, AdamW).
    #[arg(long, default_value_t = 1e-2)]
    lr: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Characters to generate at the end.
    #[arg(long, default_value_t = 400)]
    generate: usize,
    #[arg(long, default_value = "THESEUS\n")]
    prompt: String,
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    #[arg(long, default_value_t = 10)]
    top_k: usize,
}

fn main() -> BoxResult<()> {
    let args = Args::parse();
    if args.context < 2 || args.batch_size == 0 || args.epochs == 0 {
        return Err("--context must be at least 2, --batch-size and --epochs positive".into());
    }
    let dev = device(args.backend)?;
    dev.manual_seed(args.seed);
    let vocab = Vocab::new(TEXT);
    let (train_ids, val_ids) = split(&vocab.encode(TEXT), 0.1);
    let config = LmConfig {
        vocab: vocab.len(),
        d_model: args.d_model,
        nhead: args.heads,
        layers: args.layers,
        context: args.context,
        dropout: args.dropout,
        attention: Attention::Causal,
    };
    let mut model = CharTransformer::new(&config, &dev)?;
    println!(
        "wgrad char_lm: {} layers, d_model {}, {} heads, context {} ({} parameters), on {}",
        args.layers,
        args.d_model,
        args.heads,
        args.context,
        model.num_params(),
        dev.name()
    );
    let pairs: Vec<(i32, i32)> = val_ids.windows(2).map(|w| (w[0], w[1])).collect();
    println!(
        "text: {} characters ({} distinct), {} train / {} validation; without context a model cannot beat \
         {:.3} nats (unigram), with only the current character {:.3} (bigram)",
        train_ids.len() + val_ids.len(),
        vocab.len(),
        train_ids.len(),
        val_ids.len(),
        unigram_bound(&val_ids),
        bigram_bound(&pairs)
    );
    let cfg = TrainConfig {
        epochs: args.epochs,
        steps_per_epoch: args.steps_per_epoch,
        batch: args.batch_size,
        context: args.context,
        max_lr: args.lr,
        seed: args.seed,
        eval_stride: args.context / 2,
    };
    let start = std::time::Instant::now();
    let total = (args.epochs * args.steps_per_epoch) as u64;
    let bar = progress_bar(total, "training")?;
    let (epochs, mut sum) = (args.epochs, 0.0);
    let on_step = |i: usize, loss: f64| {
        sum = if i == 0 { loss } else { sum + loss };
        bar.inc(1);
        bar.set_message(format!("loss {:.4}", sum / (i + 1) as f64));
    };
    let on_epoch = |r: &EpochReport| {
        bar.suspend(|| {
            println!(
                "epoch {:>2}/{epochs}: train loss {:.4}, val loss {:.4}, next-after-window loss {:.4} ({:.1} s)",
                r.epoch, r.train_loss, r.val_loss, r.val_last_loss, r.seconds
            )
        });
    };
    train::train(
        &mut model,
        (&train_ids, &val_ids),
        &cfg,
        &dev,
        on_step,
        on_epoch,
    )?;
    bar.finish_and_clear();
    println!("trained in {:.1} s", start.elapsed().as_secs_f64());
    if wgrad::wgpu::profile::enabled() {
        println!("{}", wgrad::wgpu::profile::report());
    }
    let sampling = SamplingConfig {
        temperature: args.temperature,
        top_k: Some(args.top_k),
    };
    dev.manual_seed(args.seed);
    let text = generate(
        &mut model,
        &vocab,
        &args.prompt,
        args.generate,
        &sampling,
        &dev,
    )?;
    println!(
        "--- sample (temperature {}, top-k {}) ---\n{text}",
        args.temperature, args.top_k
    );
    Ok(())
}
