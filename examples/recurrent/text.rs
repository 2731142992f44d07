//! A character-level language model on Shakespeare's Sonnets (bundled in `wgrad::data::text`): train
//! [`CharLm`] to predict each next character, compare its loss with the unigram entropy of the text (the
//! best a model without context can do), and print text sampled from it.

use std::path::Path;
use std::time::Instant;

use wgrad::data::text::{sonnets, unigram_entropy, CharVocab, TextBatches};
use wgrad::nn::{AdamConfig, GradClip, LrSchedule, Module, OneCycleLr, Optimizer};
use wgrad::{no_grad, Device, Tensor};

use crate::common::plot::{line_chart, Chart, Series};
use crate::common::{progress_bar, BoxResult};
use crate::models::{CellKind, CharLm};

/// The text task's settings.
#[derive(Clone, Debug)]
pub struct TextConfig {
    pub cell: CellKind,
    pub embed: usize,
    pub hidden: usize,
    pub epochs: usize,
    pub seq_len: usize,
    pub batch_size: usize,
    pub max_lr: f64,
    /// Characters to generate after training.
    pub generate: usize,
    pub temperature: f64,
    pub seed: u64,
}

/// The first sonnet's first line: the prompt the sample continues.
const PROMPT: &str = "From fairest creatures we desire increase,\n";

/// Mean loss of `model` over `data`'s windows (evaluation mode, no gradients).
pub fn evaluate(model: &mut CharLm, data: &TextBatches, dev: &Device) -> wgrad::Result<f64> {
    model.eval();
    let result = no_grad(|| -> wgrad::Result<f64> {
        let mut sum = 0.0;
        for batch in data.epoch(0) {
            let shape = [batch.batch_size, batch.seq_len];
            let x = Tensor::from_slice(&batch.inputs, shape, dev)?;
            let y = Tensor::from_slice(&batch.targets, shape, dev)?;
            sum += model.loss(&x, &y)?.item()?;
        }
        Ok(sum / data.len().max(1) as f64)
    });
    model.train();
    result
}

/// The whole task: the last tenth of the text is held out for validation.
pub fn run(config: &TextConfig, plot: &Path, dev: &Device) -> BoxResult<f64> {
    let text = sonnets();
    let vocab = CharVocab::from_text(text);
    let ids = vocab.encode(text)?;
    let cut = ids.len() * 9 / 10;
    let entropy = unigram_entropy(&ids[..cut]);
    let train_set = TextBatches::new(
        ids[..cut].to_vec(),
        config.seq_len,
        config.batch_size,
        config.seed,
    )?;
    let valid_set = TextBatches::new(
        ids[cut..].to_vec(),
        config.seq_len,
        config.batch_size,
        config.seed,
    )?;
    dev.manual_seed(config.seed);
    let mut model = CharLm::new(config.cell, vocab.len(), config.embed, config.hidden, dev)?;
    println!(
        "character LM on Shakespeare's Sonnets: {} characters ({} distinct), {} for training, {} held out; \
         {}, embedding {}, hidden {} ({} parameters); {} epochs of {} batches of {}×{} characters",
        ids.len(),
        vocab.len(),
        cut,
        ids.len() - cut,
        config.cell,
        config.embed,
        config.hidden,
        model.num_params(),
        config.epochs,
        train_set.len(),
        config.batch_size,
        config.seq_len
    );
    println!("unigram entropy of the training text: {entropy:.3} nats per character");
    let steps = (config.epochs * train_set.len()).max(1);
    let schedule = OneCycleLr::new(config.max_lr, steps);
    let mut opt =
        Optimizer::new(model.parameters(), AdamConfig::default()).with_clip(GradClip::Norm(1.0));
    let (mut train_curve, mut valid_curve) = (Vec::new(), Vec::new());
    let start = Instant::now();
    for epoch in 0..config.epochs {
        let prefix = format!("text {} epoch {}/{}", config.cell, epoch + 1, config.epochs);
        let bar = progress_bar(train_set.len() as u64, prefix)?;
        let epoch_start = Instant::now();
        let mut sum = 0.0;
        for (i, batch) in train_set.epoch(epoch).enumerate() {
            let shape = [batch.batch_size, batch.seq_len];
            let x = Tensor::from_slice(&batch.inputs, shape, dev)?;
            let y = Tensor::from_slice(&batch.targets, shape, dev)?;
            opt.set_lr(schedule.lr(epoch * train_set.len() + i));
            let loss = opt.backward_step(&model.loss(&x, &y)?)?.item()?;
            sum += loss;
            // x in epochs, so the steps and the per-epoch validation share an axis
            let at = epoch as f64 + (i + 1) as f64 / train_set.len() as f64;
            train_curve.push((at, loss));
            bar.inc(1);
            bar.set_message(format!("loss {:.3}", sum / (i + 1) as f64));
        }
        bar.finish_and_clear();
        let train_loss = sum / train_set.len() as f64;
        let valid_loss = evaluate(&mut model, &valid_set, dev)?;
        println!(
            "text {} epoch {:>2}/{}: training loss {train_loss:.3}, validation loss {valid_loss:.3} nats/char \
             ({:.2} bits), {:.1} s",
            config.cell,
            epoch + 1,
            config.epochs,
            valid_loss / std::f64::consts::LN_2,
            epoch_start.elapsed().as_secs_f64()
        );
        valid_curve.push(valid_loss);
    }
    let valid_loss = valid_curve.last().copied().unwrap_or(f64::NAN);
    println!(
        "character LM ({}): validation loss {valid_loss:.3} nats/char against the unigram entropy {entropy:.3}, \
         {:.0} s",
        config.cell,
        start.elapsed().as_secs_f64()
    );
    let prompt = vocab.encode(PROMPT)?;
    let sample = model.sample(
        &prompt,
        config.generate,
        config.temperature,
        config.seed,
        dev,
    )?;
    println!(
        "--- sample (temperature {}) ---\n{PROMPT}{}\n---",
        config.temperature,
        vocab.decode(&sample)
    );
    let flat = |name: &str| {
        let n = config.epochs.max(1) as f64;
        Series::new(name, vec![(0.0, entropy), (n, entropy)])
    };
    let chart = Chart {
        title: format!("Character-level {} on Shakespeare's Sonnets", config.cell),
        x_label: "epoch".into(),
        y_label: "cross-entropy (nats per character)".into(),
        series: vec![
            Series::new("training loss (each step)", train_curve),
            Series::per_step("validation loss (after each epoch)", &valid_curve),
            flat("unigram entropy (no context)"),
        ],
        right: None,
    };
    line_chart(plot, &chart, (800, 500))?;
    println!("plot: {}", plot.display());
    Ok(valid_loss)
}
