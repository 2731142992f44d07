//! End to end: a tiny MLP learns a linearly separable problem.

use wgrad_graph::{DType, Tensor};
use wgrad_nn::*;

use crate::dev;

/// 64 points in the plane, labelled by the side of the line x₀ + 2x₁ = 0; a 2-16-2 MLP with Adam reaches a
/// low loss and perfect accuracy in 60 steps.
#[test]
fn mlp_learns_a_separable_problem() {
    let d = dev();
    d.manual_seed(0);
    let x = Tensor::randn([64, 2], DType::F32, &d).unwrap();
    let xs = x.to_f64_vec().unwrap();
    let labels: Vec<i32> = xs
        .chunks(2)
        .map(|p| i32::from(p[0] + 2.0 * p[1] > 0.0))
        .collect();
    let y = Tensor::from_vec(labels.clone(), [64], &d).unwrap();
    let mut model = Sequential::new()
        .add(LinearConfig::new(2, 16).init(&d).unwrap())
        .add(Activation::Relu)
        .add(LinearConfig::new(16, 2).init(&d).unwrap());
    model.train();
    let mut opt = Optimizer::new(
        model.parameters(),
        AdamConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    let sched = OneCycleLr::new(0.05, 60);
    let mut first = None;
    let mut last = 0.0;
    let mut acc = 0.0;
    for step in 0..60 {
        opt.set_lr(sched.lr(step));
        let logits = model.forward(&x).unwrap();
        let loss = cross_entropy(&logits, &y).unwrap();
        last = opt
            .backward_step_with(&loss, &[&logits])
            .unwrap()
            .item()
            .unwrap();
        first.get_or_insert(last);
        acc = accuracy(&predictions(&logits).unwrap(), &labels).unwrap();
    }
    let first = first.unwrap();
    assert!(last < 0.15 && last < first / 4.0, "loss {first} -> {last}");
    assert!(acc >= 0.97, "accuracy {acc}");
}

/// A small CNN (conv, batch norm, ReLU, max pool, dropout, linear) fits 8 fixed 6×6 images in 30 AdamW steps
/// with a one-cycle LR, and its eval-mode predictions match the labels.
#[test]
fn cnn_with_batch_norm_fits_a_small_batch() {
    let d = dev();
    d.manual_seed(3);
    let mut model = Sequential::new()
        .add(Conv2dConfig::new(1, 4, 3).with_padding(1).init(&d).unwrap())
        .add(BatchNormConfig::new(4).init_2d(&d).unwrap())
        .add(Activation::Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(Dropout::new(0.1).unwrap())
        .add(LinearConfig::new(36, 3).init(&d).unwrap());
    let x = Tensor::randn([8, 1, 6, 6], DType::F32, &d).unwrap();
    x.realize().unwrap();
    let labels = vec![0, 1, 2, 0, 1, 2, 0, 1];
    let y = Tensor::from_vec(labels.clone(), [8], &d).unwrap();
    let mut opt = Optimizer::new(model.parameters(), AdamWConfig::default());
    let sched = OneCycleLr::new(0.05, 30);
    let mut losses = Vec::new();
    for step in 0..30 {
        opt.set_lr(sched.lr(step));
        let loss = cross_entropy(&model.forward(&x).unwrap(), &y).unwrap();
        losses.push(opt.backward_step(&loss).unwrap().item().unwrap());
    }
    assert!(losses[29] < losses[0] / 3.0, "losses {losses:?}");
    model.eval();
    let pred = predictions(&model.forward(&x).unwrap()).unwrap();
    assert_eq!(pred, labels);
}
