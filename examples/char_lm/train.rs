//! Training, evaluation and generation for [`CharTransformer`]; shared by the example and its CI test.

use std::time::Instant;

use wgrad::nn::{
    sample, AdamWConfig, GradClip, LrSchedule, Module, OneCycleLr, Optimizer, SamplingConfig,
};
use wgrad::{no_grad, Device, Result, Tensor};

use crate::data::{epoch_offsets, eval_offsets, windows, Vocab};
use crate::model::CharTransformer;

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub epochs: usize,
    pub steps_per_epoch: usize,
    pub batch: usize,
    /// Characters per training window (at most the model's context).
    pub context: usize,
    /// Peak of the one-cycle learning rate (AdamW, weight decay 0.01, gradients clipped at norm 1).
    pub max_lr: f64,
    pub seed: u64,
    /// Stride of the validation windows.
    pub eval_stride: usize,
}

/// What one epoch measured.
#[derive(Clone, Debug)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f64,
    /// Mean loss over every position of the validation windows (teacher forcing).
    pub val_loss: f64,
    /// Mean loss of predicting the character after each validation window from the window alone.
    pub val_last_loss: f64,
    pub seconds: f64,
}

fn tensors(ids: &[i32], offsets: &[usize], t: usize, dev: &Device) -> Result<(Tensor, Tensor)> {
    let w = windows(ids, offsets, t);
    let x = Tensor::from_slice(&w.inputs, [w.batch, t], dev)?;
    let y = Tensor::from_slice(&w.targets, [w.batch, t], dev)?;
    Ok((x, y))
}

/// `(val_loss, val_last_loss)` over windows of `t` at `stride` in `ids`, in evaluation mode, 256 windows a
/// batch.
pub fn evaluate(
    model: &mut CharTransformer,
    ids: &[i32],
    t: usize,
    stride: usize,
    dev: &Device,
) -> Result<(f64, f64)> {
    model.eval();
    let result = no_grad(|| -> Result<(f64, f64)> {
        let offsets = eval_offsets(ids.len() - 1, t, stride);
        let (mut all, mut last, mut n) = (0.0, 0.0, 0usize);
        for chunk in offsets.chunks(256) {
            let (x, y) = tensors(ids, chunk, t, dev)?;
            let last_targets = y.narrow(1, t - 1, 1)?.reshape([chunk.len()])?;
            all += model.loss(&x, &y)?.item()? * chunk.len() as f64;
            last += model.last_position_loss(&x, &last_targets)?.item()? * chunk.len() as f64;
            n += chunk.len();
        }
        Ok((all / n.max(1) as f64, last / n.max(1) as f64))
    });
    model.train();
    result
}

/// Trains `model` on `train_ids`, evaluating on `val_ids` after every epoch; `on_step(step, loss)` after
/// every step (progress bars), `on_epoch` after every epoch.
pub fn train(
    model: &mut CharTransformer,
    (train_ids, val_ids): (&[i32], &[i32]),
    cfg: &TrainConfig,
    dev: &Device,
    mut on_step: impl FnMut(usize, f64),
    mut on_epoch: impl FnMut(&EpochReport),
) -> Result<Vec<EpochReport>> {
    let mut opt = Optimizer::new(
        model.parameters(),
        AdamWConfig {
            lr: cfg.max_lr,
            ..Default::default()
        },
    )
    .with_clip(GradClip::Norm(1.0));
    let total = (cfg.epochs * cfg.steps_per_epoch).max(1);
    let schedule = OneCycleLr::new(cfg.max_lr, total);
    let mut reports = Vec::new();
    for epoch in 0..cfg.epochs {
        let start = Instant::now();
        let seed = cfg.seed ^ ((epoch as u64 + 1) << 40);
        dev.manual_seed(seed);
        let offsets = epoch_offsets(
            train_ids.len(),
            cfg.context,
            cfg.batch,
            cfg.steps_per_epoch,
            seed,
        );
        let mut sum = 0.0;
        for (i, o) in offsets.iter().enumerate() {
            let (x, y) = tensors(train_ids, o, cfg.context, dev)?;
            opt.set_lr(schedule.lr(epoch * cfg.steps_per_epoch + i));
            let loss = opt.backward_step(&model.loss(&x, &y)?)?.item()?;
            sum += loss;
            on_step(i, loss);
        }
        let seconds = start.elapsed().as_secs_f64();
        let (val_loss, val_last_loss) =
            evaluate(model, val_ids, cfg.context, cfg.eval_stride, dev)?;
        let report = EpochReport {
            epoch: epoch + 1,
            train_loss: sum / cfg.steps_per_epoch.max(1) as f64,
            val_loss,
            val_last_loss,
            seconds,
        };
        on_epoch(&report);
        reports.push(report);
    }
    Ok(reports)
}

/// `n` characters after `prompt`, each drawn from the model's prediction for the last `context` characters.
pub fn generate(
    model: &mut CharTransformer,
    vocab: &Vocab,
    prompt: &str,
    n: usize,
    sampling: &SamplingConfig,
    dev: &Device,
) -> Result<String> {
    model.eval();
    let context = model.config().context;
    let mut ids = vocab.encode(prompt);
    if ids.is_empty() {
        ids.push(0);
    }
    let out = no_grad(|| -> Result<()> {
        for _ in 0..n {
            let window = &ids[ids.len().saturating_sub(context)..];
            let x = Tensor::from_slice(window, [1, window.len()], dev)?;
            let logits = model.logits(&x)?;
            let last = logits
                .narrow(1, window.len() - 1, 1)?
                .reshape([vocab.len()])?;
            ids.push(sample(&last, sampling)?.to_vec::<i32>()?[0]);
        }
        Ok(())
    });
    model.train();
    out?;
    Ok(vocab.decode(&ids))
}
