//! The `recurrent` example's models in miniature: an LSTM and a GRU reading MNIST digits row by row must
//! beat chance by a wide margin after a few dozen steps, and the character-level language model must get
//! its loss on held-out text below the unigram entropy of the text, which no model without context can do.
//!
//! Sized for CI (2 cores, lavapipe): hidden 32, batches of 64 digits or 32 windows of 32 characters.

#[path = "../examples/recurrent/models.rs"]
mod models;

use models::{CellKind, CharLm, RowClassifier};
use wgrad::data::text::{sonnets, unigram_entropy, CharVocab, TextBatches};
use wgrad::data::{Loader, LoaderConfig, Mnist};
use wgrad::nn::{
    accuracy, cross_entropy, predictions, AdamConfig, Forward, GradClip, Module, Optimizer,
};
use wgrad::{no_grad, Device, Tensor};

fn gpu() -> Option<Device> {
    wgrad::wgpu::testing::backend_or_skip().map(Device::new)
}

fn adam(lr: f64, params: Vec<wgrad::nn::Param>) -> Optimizer {
    Optimizer::new(
        params,
        AdamConfig {
            lr,
            ..Default::default()
        },
    )
    .with_clip(GradClip::Norm(1.0))
}

/// Trains a row classifier with `cell` for `STEPS` batches and returns its accuracy on 500 test digits.
fn row_accuracy(cell: CellKind, dev: &Device) -> f64 {
    const STEPS: usize = 40;
    let (train, test) = Mnist::bundled_split().expect("bundled data");
    let (train, _) = train.split_at(STEPS * 64).expect("split");
    let (_, test) = test.split_at(1500).expect("split");
    dev.manual_seed(0);
    let mut model = RowClassifier::new(cell, 32, dev).expect("model");
    let mut opt = adam(1e-2, model.parameters());
    let loader = Loader::new(&train, LoaderConfig::default()).expect("loader");
    for batch in loader.epoch(0) {
        let x = Tensor::from_slice(&batch.images, batch.shape.to_vec(), dev).expect("x");
        let y = Tensor::from_slice(&batch.labels, [batch.batch_size], dev).expect("y");
        let loss = cross_entropy(&model.forward(&x).expect("forward"), &y).expect("loss");
        let loss = opt
            .backward_step(&loss)
            .expect("step")
            .item()
            .expect("loss");
        assert!(loss.is_finite(), "{cell:?}: loss {loss}");
    }
    model.eval();
    let config = LoaderConfig {
        batch_size: 500,
        shuffle: false,
        ..Default::default()
    };
    let batch = Loader::new(&test, config)
        .expect("loader")
        .epoch(0)
        .next()
        .expect("one batch");
    let x = Tensor::from_slice(&batch.images, batch.shape.to_vec(), dev).expect("x");
    let predicted = no_grad(|| predictions(&model.forward(&x)?)).expect("predict");
    let acc = accuracy(&predicted, &batch.labels).expect("accuracy");
    eprintln!(
        "{cell:?} on {}: test accuracy {:.1}% after {STEPS} steps",
        dev.name(),
        100.0 * acc
    );
    acc
}

/// Chance is 10%; a recurrence that lost its state between rows (or a broken BPTT) stays near what the
/// last row alone tells, far below this.
const ROWS_TARGET: f64 = 0.4;

#[test]
fn lstm_reads_mnist_rows_far_above_chance() {
    let Some(dev) = gpu() else { return };
    let acc = row_accuracy(CellKind::Lstm, &dev);
    assert!(acc >= ROWS_TARGET, "LSTM test accuracy {acc}");
}

#[test]
fn gru_reads_mnist_rows_far_above_chance() {
    let Some(dev) = gpu() else { return };
    let acc = row_accuracy(CellKind::Gru, &dev);
    assert!(acc >= ROWS_TARGET, "GRU test accuracy {acc}");
}

#[test]
fn char_lm_loss_falls_below_unigram_entropy() {
    let Some(dev) = gpu() else { return };
    let text = sonnets();
    let vocab = CharVocab::from_text(text);
    let ids = vocab.encode(text).expect("encode");
    let cut = ids.len() * 9 / 10;
    let entropy = unigram_entropy(&ids[..cut]);
    let train = TextBatches::new(ids[..cut].to_vec(), 32, 32, 0).expect("batches");
    let valid = TextBatches::new(ids[cut..].to_vec(), 32, 32, 0).expect("batches");
    dev.manual_seed(0);
    let mut model = CharLm::new(CellKind::Lstm, vocab.len(), 16, 64, &dev).expect("model");
    let mut opt = adam(1e-2, model.parameters());
    let tensors = |b: &wgrad::data::text::TextBatch| {
        let shape = [b.batch_size, b.seq_len];
        (
            Tensor::from_slice(&b.inputs, shape, &dev).expect("x"),
            Tensor::from_slice(&b.targets, shape, &dev).expect("y"),
        )
    };
    let mut first = None;
    for batch in train.epoch(0).take(60) {
        let (x, y) = tensors(&batch);
        let loss = opt
            .backward_step(&model.loss(&x, &y).expect("loss"))
            .expect("step")
            .item()
            .expect("loss");
        first.get_or_insert(loss);
    }
    model.eval();
    let held_out: Vec<f64> = no_grad(|| {
        valid
            .epoch(0)
            .map(|b| {
                let (x, y) = tensors(&b);
                model.loss(&x, &y).expect("loss").item().expect("loss")
            })
            .collect()
    });
    let held_out = held_out.iter().sum::<f64>() / held_out.len() as f64;
    eprintln!(
        "char LM: first loss {first:?}, held-out loss {held_out:.3}, unigram entropy {entropy:.3} nats"
    );
    // the untrained model is near ln(62) ≈ 4.1 nats; context must take it clearly below the entropy
    assert!(
        held_out < entropy - 0.15,
        "held-out loss {held_out} not below the unigram entropy {entropy}"
    );
    // sampling runs and stays in the vocabulary
    let sample = model.sample(&ids[..8], 20, 1.0, 0, &dev).expect("sample");
    assert_eq!(sample.len(), 20);
    assert!(sample.iter().all(|&i| vocab.char(i).is_some()));
}
