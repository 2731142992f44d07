//! The char_lm example, scaled down: a causal transformer must predict the next character of the play
//! better than any model that sees only the current character can, and the two broken variants must not.
//!
//! The level: the empirical conditional entropy H(next | current) of the evaluation pairs (the last
//! character of each validation window and the one after it). The pairs' own bigram frequencies minimize
//! the mean cross-entropy of every model that sees only the current character, so no such model, however
//! trained, scores below it on these pairs: it is a bound, not a fitted number. The loss is measured
//! honestly: the character after each window predicted from the window alone (the last position), as in
//! generation, so a model has no future in its input to copy from.
//!
//! - causal (the example's model): must score below the bound, i.e. it uses more than one character of
//!   context;
//! - blind (each position attends only itself: no context): cannot go below the bound, and does not;
//! - leaky (no causal mask: position t sees t+1, its own target): its teacher-forced loss falls far below
//!   the causal model's by copying, but asked for the character after a window, where there is nothing to
//!   copy, it stays above the bound.
//!
//! GPU test (attention in training; on a software adapter `Auto` takes the composite path, the fused
//! kernels are checked in training by the op table's gradient rows): with CI=true and no adapter it fails.

#![allow(clippy::unwrap_used)]

#[path = "../examples/char_lm/data.rs"]
#[allow(dead_code)]
mod data;
#[path = "../examples/char_lm/model.rs"]
#[allow(dead_code)]
mod model;
#[path = "../examples/char_lm/train.rs"]
#[allow(dead_code)]
mod train;

use data::{bigram_bound, eval_offsets, split, unigram_bound, Vocab, TEXT};
use model::{Attention, CharTransformer, LmConfig};
use train::{evaluate, TrainConfig};
use wgrad::Device;

const CONTEXT: usize = 24;
const STRIDE: usize = 3;

/// Trains one variant; returns (teacher-forced val loss, honest next-after-window loss).
fn run(attention: Attention, dev: &Device, vocab: &Vocab, ids: (&[i32], &[i32])) -> (f64, f64) {
    dev.manual_seed(1);
    let config = LmConfig {
        vocab: vocab.len(),
        d_model: 48,
        nhead: 2,
        layers: 1,
        context: CONTEXT,
        dropout: 0.0,
        attention,
    };
    let mut model = CharTransformer::new(&config, dev).unwrap();
    let cfg = TrainConfig {
        epochs: 1,
        steps_per_epoch: 260,
        batch: 32,
        context: CONTEXT,
        max_lr: 1e-2,
        seed: 3,
        eval_stride: STRIDE,
    };
    let start = std::time::Instant::now();
    train::train(&mut model, ids, &cfg, dev, |_, _| {}, |_| {}).unwrap();
    let (all, last) = evaluate(&mut model, ids.1, CONTEXT, STRIDE, dev).unwrap();
    eprintln!(
        "{attention:?}: teacher-forced val loss {all:.4}, next-after-window loss {last:.4} ({:.1} s)",
        start.elapsed().as_secs_f64()
    );
    (all, last)
}

#[test]
fn char_lm_beats_the_bigram_bound_and_broken_models_do_not() {
    let Some(backend) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    let dev = Device::new(backend);
    let vocab = Vocab::new(TEXT);
    let (train_ids, val_ids) = split(&vocab.encode(TEXT), 0.1);
    // the pairs the honest loss is measured on: (last character of the window, the one after it)
    let pairs: Vec<(i32, i32)> = eval_offsets(val_ids.len() - 1, CONTEXT, STRIDE)
        .iter()
        .map(|&o| (val_ids[o + CONTEXT - 1], val_ids[o + CONTEXT]))
        .collect();
    let bound = bigram_bound(&pairs);
    let unigram = unigram_bound(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    eprintln!(
        "{} evaluation pairs: unigram bound {unigram:.4}, bigram bound {bound:.4}",
        pairs.len()
    );
    let ids = (&train_ids[..], &val_ids[..]);
    let (causal_all, causal) = run(Attention::Causal, &dev, &vocab, ids);
    let (_, blind) = run(Attention::Blind, &dev, &vocab, ids);
    let (leaky_all, leaky) = run(Attention::Leaky, &dev, &vocab, ids);
    assert!(
        causal < bound,
        "the causal model ({causal:.4}) did not beat the bigram bound ({bound:.4})"
    );
    assert!(
        blind >= bound,
        "a model without context scored {blind:.4} below the bound {bound:.4}"
    );
    assert!(
        leaky > bound,
        "the leaky model scored {leaky:.4} honestly, below the bound {bound:.4}"
    );
    assert!(
        leaky_all < 0.5 * causal_all,
        "the leaky model's teacher-forced loss {leaky_all:.4} should show the leak (causal: {causal_all:.4})"
    );
}
