//! The bundled text (Shakespeare's *A Midsummer Night's Dream*, see README.md), its character vocabulary,
//! a train/validation split, training windows, and the entropies that bound what a model without context
//! can reach.

use std::collections::HashMap;

/// The play, 96,249 bytes of ASCII.
pub const TEXT: &str = include_str!("midsummer.txt");

/// Characters in sorted order and their ids.
#[derive(Clone, Debug)]
pub struct Vocab {
    chars: Vec<char>,
    ids: HashMap<char, i32>,
}

impl Vocab {
    pub fn new(text: &str) -> Vocab {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        let ids = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as i32))
            .collect();
        Vocab { chars, ids }
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Ids of the characters of `text` the vocabulary knows (others are skipped).
    pub fn encode(&self, text: &str) -> Vec<i32> {
        text.chars()
            .filter_map(|c| self.ids.get(&c).copied())
            .collect()
    }

    pub fn decode(&self, ids: &[i32]) -> String {
        ids.iter().map(|&i| self.chars[i as usize]).collect()
    }
}

/// The encoded text split at `1 - val_fraction` (train first, validation the end of the play).
pub fn split(ids: &[i32], val_fraction: f64) -> (Vec<i32>, Vec<i32>) {
    let at = ((1.0 - val_fraction) * ids.len() as f64) as usize;
    (ids[..at].to_vec(), ids[at..].to_vec())
}

/// A batch of windows: `inputs[b]` is `ids[o..o + t]`, `targets[b]` is `ids[o + 1..o + t + 1]`.
pub struct Windows {
    pub inputs: Vec<i32>,
    pub targets: Vec<i32>,
    pub batch: usize,
}

/// `batch` windows of `t` characters at the offsets `offsets` (each `≤ ids.len() - t - 1`).
pub fn windows(ids: &[i32], offsets: &[usize], t: usize) -> Windows {
    let mut inputs = Vec::with_capacity(offsets.len() * t);
    let mut targets = Vec::with_capacity(offsets.len() * t);
    for &o in offsets {
        inputs.extend_from_slice(&ids[o..o + t]);
        targets.extend_from_slice(&ids[o + 1..o + t + 1]);
    }
    Windows {
        inputs,
        targets,
        batch: offsets.len(),
    }
}

/// Random window offsets for one epoch of `steps` batches (Philox, reproducible from `seed`).
pub fn epoch_offsets(
    len: usize,
    t: usize,
    batch: usize,
    steps: usize,
    seed: u64,
) -> Vec<Vec<usize>> {
    let span = (len - t - 1) as f64;
    (0..steps)
        .map(|s| {
            (0..batch)
                .map(|b| {
                    let u = wgrad::graph::philox::uniform(seed, 0, (s * batch + b) as u64);
                    (f64::from(u) * span) as usize
                })
                .collect()
        })
        .collect()
}

/// Offsets of every `stride`-th window of `t` characters in `ids`: evaluation windows.
pub fn eval_offsets(len: usize, t: usize, stride: usize) -> Vec<usize> {
    (0..len.saturating_sub(t)).step_by(stride.max(1)).collect()
}

/// `-Σ p log p` (nats) of a histogram.
fn entropy(counts: &HashMap<i32, usize>) -> f64 {
    let n: usize = counts.values().sum();
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.ln()
        })
        .sum()
}

/// The empirical conditional entropy H(next | current) of the (current, next) pairs, in nats: the lowest
/// mean cross-entropy any model that sees only the current character can reach on exactly these pairs
/// (the pairs' own bigram frequencies are the minimizer). A model that ignores the context cannot go below.
pub fn bigram_bound(pairs: &[(i32, i32)]) -> f64 {
    let mut by_prev: HashMap<i32, HashMap<i32, usize>> = HashMap::new();
    for &(a, b) in pairs {
        *by_prev.entry(a).or_default().entry(b).or_default() += 1;
    }
    let n = pairs.len() as f64;
    by_prev
        .values()
        .map(|next| next.values().sum::<usize>() as f64 / n * entropy(next))
        .sum()
}

/// The empirical entropy of the characters (nats): the bound for a model that sees nothing at all.
pub fn unigram_bound(ids: &[i32]) -> f64 {
    let mut counts = HashMap::new();
    for &i in ids {
        *counts.entry(i).or_default() += 1;
    }
    entropy(&counts)
}
