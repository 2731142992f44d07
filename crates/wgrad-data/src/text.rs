//! A small public-domain text compiled into this crate, a character vocabulary, and batches of windows for
//! next-character prediction (character-level language models).
//!
//! [`sonnets`] is Shakespeare's 154 sonnets, 95,728 ASCII bytes (provenance and licence in
//! `data/text/README.md`). Like the bundled digits it is compiled in, so examples and tests run offline and
//! from any directory.
//!
//! ```
//! use wgrad_data::text::{sonnets, CharVocab, TextBatches};
//! # fn main() -> wgrad_graph::Result<()> {
//! let vocab = CharVocab::from_text(sonnets());
//! let ids = vocab.encode(sonnets())?;
//! assert_eq!(vocab.decode(&ids[..11]), "THE SONNETS");
//! let batches = TextBatches::new(ids, 64, 32, 0)?;
//! for batch in batches.epoch(0) {
//!     // targets are the inputs shifted by one character
//!     assert_eq!(batch.inputs[1..64], batch.targets[..63]);
//! }
//! # Ok(())
//! # }
//! ```

use wgrad_graph::{philox, Error, Result};

const SONNETS: &str = include_str!("../data/text/sonnets.txt");

/// Shakespeare's Sonnets: a title line, then each sonnet as a Roman numeral and fourteen lines.
pub fn sonnets() -> &'static str {
    SONNETS
}

/// The distinct characters of a text, sorted, each with an id `0..len()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharVocab {
    chars: Vec<char>,
}

impl CharVocab {
    /// The characters that occur in `text` (62 for [`sonnets`]).
    pub fn from_text(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        CharVocab { chars }
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters, in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<i32> {
        self.chars.binary_search(&c).ok().map(|i| i as i32)
    }

    /// The character with id `id`.
    pub fn char(&self, id: i32) -> Option<char> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.chars.get(i).copied())
    }

    /// The ids of `text`'s characters.
    ///
    /// # Errors
    /// `Error::Argument` naming the first character that is not in the vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<i32>> {
        text.chars()
            .map(|c| {
                self.id(c).ok_or_else(|| {
                    Error::argument(
                        "encode",
                        format!("character {c:?} is not in the vocabulary"),
                    )
                })
            })
            .collect()
    }

    /// The text of `ids`; an id outside the vocabulary becomes U+FFFD.
    pub fn decode(&self, ids: &[i32]) -> String {
        ids.iter()
            .map(|&i| self.char(i).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }
}

/// The entropy, in nats, of the ids' frequencies: `-Σ p log p`. It is the cross-entropy of the best model
/// that ignores context (the unigram model), so a language model whose loss is not below it has learnt
/// nothing from the preceding characters. Negative ids are ignored; 0 for no ids.
pub fn unigram_entropy(ids: &[i32]) -> f64 {
    let mut counts: Vec<u64> = Vec::new();
    let mut total = 0u64;
    for &i in ids {
        let Ok(i) = usize::try_from(i) else { continue };
        if i >= counts.len() {
            counts.resize(i + 1, 0);
        }
        counts[i] += 1;
        total += 1;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.ln()
        })
        .sum()
}

/// `batch_size` windows of `seq_len` ids and, for each, the ids one step later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextBatch {
    /// `[batch_size, seq_len]`, row-major.
    pub inputs: Vec<i32>,
    /// `[batch_size, seq_len]`: `targets[b, t]` is the id that follows `inputs[b, t]` in the text.
    pub targets: Vec<i32>,
    pub batch_size: usize,
    pub seq_len: usize,
}

/// Serves a token sequence as batches of windows for next-token prediction.
///
/// An epoch cuts the sequence into consecutive windows of `seq_len + 1` ids (input and the target shifted
/// by one), starting at an offset in `0..seq_len` drawn per epoch so that window borders move between
/// epochs, and serves them in a shuffled order, `batch_size` at a time; a last partial batch is dropped so
/// every batch has the same shape. The offset and order depend only on `(seed, epoch)`, as in
/// [`crate::Loader`].
#[derive(Debug, Clone)]
pub struct TextBatches {
    ids: Vec<i32>,
    seq_len: usize,
    batch_size: usize,
    seed: u64,
}

impl TextBatches {
    /// # Errors
    /// `Error::Argument` when `seq_len` or `batch_size` is 0, or the sequence is too short for one batch
    /// (it needs `batch_size · seq_len + seq_len` ids, so that a batch fits whatever the offset).
    pub fn new(ids: Vec<i32>, seq_len: usize, batch_size: usize, seed: u64) -> Result<Self> {
        let need = (batch_size + 1).saturating_mul(seq_len);
        if seq_len == 0 || batch_size == 0 || ids.len() < need {
            return Err(Error::argument(
                "text batches",
                format!(
                    "seq_len {seq_len} and batch_size {batch_size} must be positive, and {} ids fall short of the {need} one batch needs",
                    ids.len()
                ),
            ));
        }
        Ok(TextBatches {
            ids,
            seq_len,
            batch_size,
            seed,
        })
    }

    /// The token sequence.
    pub fn ids(&self) -> &[i32] {
        &self.ids
    }

    /// Batches per epoch (the same for every epoch, whatever its offset).
    pub fn len(&self) -> usize {
        self.windows(self.seq_len - 1) / self.batch_size
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Windows that fit after `offset`.
    fn windows(&self, offset: usize) -> usize {
        (self.ids.len() - offset - 1) / self.seq_len
    }

    /// Where epoch `epoch`'s first window starts: `0..seq_len`.
    pub fn offset(&self, epoch: usize) -> usize {
        let w = philox::words(self.seed ^ 0x7e47_0ff5e7, epoch as u64, 0);
        (u64::from(w[0]) % self.seq_len as u64) as usize
    }

    /// The batches of epoch `epoch`.
    pub fn epoch(&self, epoch: usize) -> impl Iterator<Item = TextBatch> + '_ {
        let offset = self.offset(epoch);
        let order = shuffled(self.windows(offset), self.seed, epoch);
        let (t, b) = (self.seq_len, self.batch_size);
        (0..self.len()).map(move |k| {
            let mut inputs = Vec::with_capacity(b * t);
            let mut targets = Vec::with_capacity(b * t);
            for &w in &order[k * b..(k + 1) * b] {
                let start = offset + w * t;
                inputs.extend_from_slice(&self.ids[start..start + t]);
                targets.extend_from_slice(&self.ids[start + 1..start + t + 1]);
            }
            TextBatch {
                inputs,
                targets,
                batch_size: b,
                seq_len: t,
            }
        })
    }
}

/// A Fisher–Yates shuffle of `0..n` drawn from Philox with counter `epoch · 2³² + i`, as [`crate::Loader`]
/// shuffles images.
fn shuffled(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let w = philox::words(seed, (epoch as u64) << 32, i as u64);
        let r = (u64::from(w[1]) << 32) | u64::from(w[0]);
        order.swap(i, ((u128::from(r) * (i as u128 + 1)) >> 64) as usize);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sonnets_vocab_round_trips() {
        let text = sonnets();
        assert_eq!(text.len(), 95_728);
        let vocab = CharVocab::from_text(text);
        assert_eq!(vocab.len(), 62);
        let ids = vocab
            .encode(text)
            .expect("every character is in its own vocabulary");
        assert_eq!(vocab.decode(&ids), text);
        assert!(vocab.encode("é").is_err());
        assert_eq!(vocab.decode(&[-1, 62]), "\u{fffd}\u{fffd}");
    }

    #[test]
    fn unigram_entropy_of_known_frequencies() {
        // two equally frequent symbols: ln 2; one symbol: 0
        assert!((unigram_entropy(&[0, 1, 1, 0]) - 2f64.ln()).abs() < 1e-12);
        assert_eq!(unigram_entropy(&[3, 3, 3]), 0.0);
        assert_eq!(unigram_entropy(&[]), 0.0);
    }

    #[test]
    fn text_batches_shift_targets_and_cover_distinct_windows() {
        let ids: Vec<i32> = (0..1000).collect();
        let batches = TextBatches::new(ids, 10, 8, 3).expect("batches");
        assert_eq!(batches.len(), 99 / 8);
        for epoch in 0..3 {
            let offset = batches.offset(epoch);
            assert!(offset < 10);
            let mut starts = Vec::new();
            for batch in batches.epoch(epoch) {
                assert_eq!(batch.inputs.len(), 80);
                for w in 0..8 {
                    let (x, y) = (
                        &batch.inputs[w * 10..][..10],
                        &batch.targets[w * 10..][..10],
                    );
                    assert!(x.iter().zip(y).all(|(a, b)| b - a == 1));
                    assert_eq!((x[0] as usize - offset) % 10, 0);
                    starts.push(x[0]);
                }
            }
            let n = starts.len();
            starts.sort_unstable();
            starts.dedup();
            assert_eq!(starts.len(), n, "a window served twice in epoch {epoch}");
        }
        assert!(TextBatches::new(vec![0; 10], 5, 2, 0).is_err());
    }
}
