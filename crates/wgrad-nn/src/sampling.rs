//! Sampling the next token of a language model: temperature, top-k and multinomial draws.
//!
//! The uniform numbers come from the device's Philox stream ([`Tensor::rand`]), which is bit-identical on
//! every backend: after `Device::manual_seed(s)` the CPU and the GPU draw the same numbers, so a generated
//! sample is reproducible and the same on both (barring a probability that differs between backends in its
//! last bits exactly at a draw, which f32 rounding makes vanishingly rare). The inverse CDF is taken on the
//! host in f64: a draw reads the probabilities back anyway, to feed the token to the next step.

use serde::{Deserialize, Serialize};
use wgrad_graph::{DType, Error, Result, Tensor};

/// How to pick the next token from logits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplingConfig {
    /// Divides the logits: below 1 sharpens, above 1 flattens; 0 picks the most likely token (greedy).
    pub temperature: f64,
    /// Keep only the `k` most likely tokens (ties at the k-th value are kept too).
    pub top_k: Option<usize>,
}

impl Default for SamplingConfig {
    /// Temperature 1, no top-k: draws from the model's distribution.
    fn default() -> Self {
        SamplingConfig {
            temperature: 1.0,
            top_k: None,
        }
    }
}

/// `logits / temperature`.
///
/// # Errors
/// `Error::Argument` for a temperature that is not positive and finite.
pub fn apply_temperature(logits: &Tensor, temperature: f64) -> Result<Tensor> {
    if !(temperature > 0.0 && temperature.is_finite()) {
        return Err(Error::argument(
            "temperature",
            format!("temperature must be positive and finite, got {temperature}"),
        ));
    }
    logits.div(temperature)
}

/// `[rows, V]` view of `[V]` or `[..., V]` (and the row count, vocabulary size).
fn rows_of(op: &'static str, x: &Tensor) -> Result<(Tensor, usize, usize)> {
    if x.rank() == 0 || x.dims()[x.rank() - 1] == 0 {
        return Err(Error::shape(
            op,
            format!("needs [..., V] with V > 0, got {}", x.shape()),
        ));
    }
    let v = x.dims()[x.rank() - 1];
    let rows = x.numel() / v;
    Ok((x.reshape([rows, v])?, rows, v))
}

/// The logits with every entry below its row's k-th largest set to -∞.
///
/// # Shapes
/// `[..., V]` → the same.
///
/// # Errors
/// `Error::Argument` for `k = 0`; what reading the logits raises.
pub fn top_k_logits(logits: &Tensor, k: usize) -> Result<Tensor> {
    if k == 0 {
        return Err(Error::argument("top_k", "k must be at least 1"));
    }
    let (flat, rows, v) = rows_of("top_k", logits)?;
    if k >= v {
        return Ok(logits.clone());
    }
    let values = flat.to_f64_vec()?;
    let thresholds: Vec<f64> = values
        .chunks(v)
        .map(|row| {
            let mut sorted = row.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            sorted[k - 1]
        })
        .collect();
    let mut dims = logits.dims().to_vec();
    *dims.last_mut().expect("rank >= 1") = 1;
    let thr =
        Tensor::from_f64(&thresholds, [rows, 1], logits.dtype(), logits.device())?.reshape(dims)?;
    logits.ge(&thr)?.where_(logits, f64::NEG_INFINITY)
}

/// `num_samples` draws with replacement from each row's categorical distribution (PyTorch's
/// `torch.multinomial(probs, num_samples, replacement=True)`): rows need not sum to 1, but must be
/// non-negative, finite and not all zero. Uses one uniform number of the device's stream per draw.
///
/// # Shapes
/// `[V]` → `[num_samples]`; `[rows, V]` → `[rows, num_samples]` (i32 indices)
///
/// # Errors
/// `Error::Argument` for a row with a negative, non-finite or zero total weight; `Error::Shape` for other
/// ranks.
pub fn multinomial(probs: &Tensor, num_samples: usize) -> Result<Tensor> {
    if probs.rank() > 2 {
        return Err(Error::shape(
            "multinomial",
            format!("needs [V] or [rows, V], got {}", probs.shape()),
        ));
    }
    let (flat, rows, v) = rows_of("multinomial", probs)?;
    let weights = flat.to_f64_vec()?;
    let draws = Tensor::rand([rows, num_samples], DType::F32, probs.device())?.to_f64_vec()?;
    let mut picks = Vec::with_capacity(rows * num_samples);
    for (r, row) in weights.chunks(v).enumerate() {
        let total: f64 = row.iter().sum();
        if row.iter().any(|&w| !(w >= 0.0 && w.is_finite())) || total <= 0.0 {
            return Err(Error::argument(
                "multinomial",
                format!("row {r}: probabilities must be non-negative, finite and not all zero"),
            ));
        }
        for &u in &draws[r * num_samples..(r + 1) * num_samples] {
            picks.push(inverse_cdf(row, u * total) as i32);
        }
    }
    let mut dims = probs.dims()[..probs.rank() - 1].to_vec();
    dims.push(num_samples);
    Tensor::from_vec(picks, dims, probs.device())
}

/// The first index whose running sum of `weights` exceeds `target` (never one of weight 0).
fn inverse_cdf(weights: &[f64], target: f64) -> usize {
    let mut acc = 0.0;
    let mut last = 0;
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            acc += w;
            last = i;
            if target < acc {
                return i;
            }
        }
    }
    last
}

/// One token per row of `logits`: greedy for temperature 0, else temperature, optional top-k, softmax
/// and one multinomial draw from the device's stream.
///
/// # Shapes
/// `[V]` → `[1]`; `[..., V]` → `[rows]` (i32, one per row of the flattened leading dims)
///
/// # Errors
/// As [`apply_temperature`], [`top_k_logits`], [`multinomial`].
pub fn sample(logits: &Tensor, config: &SamplingConfig) -> Result<Tensor> {
    let (flat, rows, _) = rows_of("sample", logits)?;
    if config.temperature == 0.0 {
        return flat.argmax(-1, false);
    }
    let mut x = apply_temperature(&flat, config.temperature)?;
    if let Some(k) = config.top_k {
        x = top_k_logits(&x, k)?;
    }
    let probs = x.cast(DType::F32)?.softmax(-1)?;
    multinomial(&probs, 1)?.reshape([rows])
}
