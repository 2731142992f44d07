//! Loss functions. Each reduces with [`Reduction::Mean`] unless asked otherwise, as PyTorch does.
//!
//! All are composites of primitives, so their gradients come from the primitives' rules.

use wgrad_graph::{DType, Error, Result, Tensor};

/// How per-element losses become the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    #[default]
    Mean,
    Sum,
    /// The per-sample (or per-element) losses.
    None,
}

impl Reduction {
    pub fn apply(self, losses: &Tensor) -> Result<Tensor> {
        match self {
            Reduction::Mean => losses.mean_all(),
            Reduction::Sum => losses.sum_all(),
            Reduction::None => Ok(losses.clone()),
        }
    }
}

fn check_labels(op: &'static str, scores: &Tensor, labels: &Tensor) -> Result<()> {
    if scores.rank() != 2 || labels.rank() != 1 || labels.dims()[0] != scores.dims()[0] {
        return Err(Error::shape(
            op,
            format!(
                "needs scores [n, k] and labels [n], got {} and {}",
                scores.shape(),
                labels.shape()
            ),
        ));
    }
    if labels.dtype() != DType::I32 {
        return Err(Error::dtype(
            op,
            format!("labels must be i32, got {}", labels.dtype()),
        ));
    }
    Ok(())
}

/// Negative log-likelihood of the labelled class.
///
/// # Shapes
/// - `log_probs` `[n, k]` (log-softmax output), `labels` i32 `[n]` in `0..k`
/// - output `[]` (or `[n]` with [`Reduction::None`])
pub fn nll_loss(log_probs: &Tensor, labels: &Tensor, reduction: Reduction) -> Result<Tensor> {
    check_labels("nll_loss", log_probs, labels)?;
    let picked = log_probs.gather(1, &labels.unsqueeze(1)?)?.squeeze(1)?;
    reduction.apply(&picked.neg()?)
}

/// Mean cross-entropy of `logits` against integer labels (`log_softmax` + NLL, stable for any logits).
///
/// # Shapes
/// - `logits` `[n, k]`, `labels` i32 `[n]`; output `[]`
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    cross_entropy_with(logits, labels, 0.0, Reduction::Mean)
}

/// Cross-entropy with label smoothing: the target is `(1-ε)·onehot + ε/K`, so the per-sample loss is
/// `(1-ε)·(-log p_y) + ε·mean_k(-log p_k)`.
///
/// # Shapes
/// - `logits` `[n, k]`, `labels` i32 `[n]`; output `[]` (or `[n]` with [`Reduction::None`])
pub fn cross_entropy_with(
    logits: &Tensor,
    labels: &Tensor,
    label_smoothing: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    check_labels("cross_entropy", logits, labels)?;
    if !(0.0..=1.0).contains(&label_smoothing) {
        return Err(Error::argument(
            "cross_entropy",
            format!("label smoothing {label_smoothing} is not in [0, 1]"),
        ));
    }
    let logp = logits.log_softmax(-1)?;
    let nll = nll_loss(&logp, labels, Reduction::None)?;
    let per_sample = if label_smoothing > 0.0 {
        let uniform = logp.mean(&[-1], false)?.neg()?;
        nll.mul(1.0 - label_smoothing)?
            .add(&uniform.mul(label_smoothing)?)?
    } else {
        nll
    };
    reduction.apply(&per_sample)
}

fn check_same(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::shape(
            op,
            format!("prediction {} and target {} differ", a.shape(), b.shape()),
        ));
    }
    Ok(())
}

/// Mean squared error `mean((ŷ - y)²)`.
///
/// # Shapes
/// - `pred` and `target` the same shape; output `[]`
pub fn mse_loss(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    check_same("mse_loss", pred, target)?;
    let d = pred.sub(target)?;
    d.mul(&d)?.mean_all()
}

/// Mean absolute error `mean(|ŷ - y|)` (L1).
///
/// # Shapes
/// - `pred` and `target` the same shape; output `[]`
pub fn mae_loss(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    check_same("mae_loss", pred, target)?;
    pred.sub(target)?.abs()?.mean_all()
}

/// Huber loss: `½d²` for `|d| ≤ δ`, else `δ(|d| - ½δ)`, averaged. Quadratic near 0, linear for outliers.
///
/// # Shapes
/// - `pred` and `target` the same shape; output `[]`
pub fn huber_loss(pred: &Tensor, target: &Tensor, delta: f64) -> Result<Tensor> {
    check_same("huber_loss", pred, target)?;
    let d = pred.sub(target)?;
    let a = d.abs()?;
    // min(|d|, δ) = q: loss = ½q² + δ(|d| - q), one expression for both branches with no `where`.
    let q = a.minimum(delta)?;
    let quad = q.mul(&q)?.mul(0.5)?;
    quad.add(&a.sub(&q)?.mul(delta)?)?.mean_all()
}

/// Binary cross-entropy on logits, `max(x, 0) - x·t + log(1 + e^-|x|)`: the stable form of
/// `-t·log σ(x) - (1-t)·log(1-σ(x))` (no `log(0)` for large |x|).
///
/// # Shapes
/// - `logits` and `targets` (in `[0, 1]`) the same shape; output `[]`
pub fn binary_cross_entropy_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check_same("binary_cross_entropy_with_logits", logits, targets)?;
    let tail = logits.abs()?.neg()?.exp()?.add(1.0)?.log()?;
    logits
        .relu()?
        .sub(&logits.mul(targets)?)?
        .add(&tail)?
        .mean_all()
}

/// Hinge loss `mean(max(0, 1 - t·s))` for targets `t ∈ {-1, +1}` and raw scores `s`.
///
/// # Shapes
/// - `scores` and `targets` the same shape; output `[]`
pub fn hinge_loss(scores: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check_same("hinge_loss", scores, targets)?;
    scores.mul(targets)?.neg()?.add(1.0)?.relu()?.mean_all()
}
