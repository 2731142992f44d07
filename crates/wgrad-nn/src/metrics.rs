//! Classification metrics from host label vectors: accuracy, confusion matrix, precision, recall, F1.
//!
//! They run on the host because they need a handful of numbers per batch; get predictions with
//! [`predictions`] from logits realized in the same step as the update (`Optimizer::step_with`).

use wgrad_graph::{Error, Result, Tensor};

/// The predicted class of each row of `[n, k]` scores (argmax), as host i32.
pub fn predictions(scores: &Tensor) -> Result<Vec<i32>> {
    scores.argmax(-1, false)?.to_vec::<i32>()
}

/// Fraction of positions where `predicted == actual` (0 for empty input).
pub fn accuracy(predicted: &[i32], actual: &[i32]) -> Result<f64> {
    if predicted.len() != actual.len() {
        return Err(Error::shape(
            "accuracy",
            format!(
                "{} predictions for {} labels",
                predicted.len(),
                actual.len()
            ),
        ));
    }
    if actual.is_empty() {
        return Ok(0.0);
    }
    let hits = predicted.iter().zip(actual).filter(|(p, a)| p == a).count();
    Ok(hits as f64 / actual.len() as f64)
}

/// Counts `m[actual][predicted]` (rows: actual class, columns: predicted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    counts: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// From label pairs; every label must be in `0..classes`.
    pub fn from_labels(actual: &[i32], predicted: &[i32], classes: usize) -> Result<Self> {
        if predicted.len() != actual.len() {
            return Err(Error::shape(
                "confusion_matrix",
                format!(
                    "{} predictions for {} labels",
                    predicted.len(),
                    actual.len()
                ),
            ));
        }
        let mut counts = vec![vec![0u64; classes]; classes];
        for (&a, &p) in actual.iter().zip(predicted) {
            let in_range = |v: i32| v >= 0 && (v as usize) < classes;
            if !in_range(a) || !in_range(p) {
                return Err(Error::index(
                    "confusion_matrix",
                    format!("label pair ({a}, {p}) out of range for {classes} classes"),
                ));
            }
            counts[a as usize][p as usize] += 1;
        }
        Ok(ConfusionMatrix { counts })
    }

    /// From a square table of counts.
    pub fn from_counts(counts: Vec<Vec<u64>>) -> Result<Self> {
        let k = counts.len();
        if counts.iter().any(|r| r.len() != k) {
            return Err(Error::shape(
                "confusion_matrix",
                format!("counts are not a square {k}x{k} table"),
            ));
        }
        Ok(ConfusionMatrix { counts })
    }

    pub fn classes(&self) -> usize {
        self.counts.len()
    }

    pub fn counts(&self) -> &[Vec<u64>] {
        &self.counts
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Trace over total.
    pub fn accuracy(&self) -> f64 {
        let hits: u64 = (0..self.classes()).map(|i| self.counts[i][i]).sum();
        ratio(hits, self.total())
    }

    /// `tp / (tp + fp)`: column `class`. 0 when nothing was predicted as `class`.
    pub fn precision(&self, class: usize) -> f64 {
        let col: u64 = self.counts.iter().map(|r| r[class]).sum();
        ratio(self.counts[class][class], col)
    }

    /// `tp / (tp + fn)`: row `class`. 0 when `class` never occurs.
    pub fn recall(&self, class: usize) -> f64 {
        let row: u64 = self.counts[class].iter().sum();
        ratio(self.counts[class][class], row)
    }

    /// Harmonic mean of precision and recall (0 when both are 0).
    pub fn f1(&self, class: usize) -> f64 {
        let (p, r) = (self.precision(class), self.recall(class));
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    fn macro_avg(&self, f: impl Fn(usize) -> f64) -> f64 {
        let k = self.classes();
        if k == 0 {
            return 0.0;
        }
        (0..k).map(f).sum::<f64>() / k as f64
    }

    /// Unweighted mean of the per-class precisions.
    pub fn macro_precision(&self) -> f64 {
        self.macro_avg(|c| self.precision(c))
    }

    pub fn macro_recall(&self) -> f64 {
        self.macro_avg(|c| self.recall(c))
    }

    /// Unweighted mean of the per-class F1 scores (scikit-learn's `f1_score(average="macro")`).
    pub fn macro_f1(&self) -> f64 {
        self.macro_avg(|c| self.f1(c))
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}
