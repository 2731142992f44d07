//! Shared test harness: the op table, input generators and tolerances.
#![allow(dead_code)]

pub mod table;
pub mod tolerance;

use table::Domain;
use wgrad::{DType, Device, Tensor};

/// The CPU reference device.
pub fn cpu() -> Device {
    wgrad::cpu_device()
}

/// Deterministic values in `[lo, hi)` from the Philox stream (`seed`, element index).
pub fn uniform(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    (0..n)
        .map(|i| lo + (hi - lo) * wgrad::graph::philox::uniform(seed, 0, i as u64) as f64)
        .collect()
}

/// A tensor of `values` on `device`.
pub fn tensor(values: &[f64], shape: &[usize], dtype: DType, device: &Device) -> Tensor {
    Tensor::from_f64(values, shape.to_vec(), dtype, device).expect("valid test tensor")
}

/// Largest violation of `|a - b| <= atol + rtol·|b|`, with where it happened, or None when all pass.
pub fn mismatch(
    actual: &[f64],
    expected: &[f64],
    atol: f64,
    rtol: f64,
) -> Option<(usize, f64, f64)> {
    if actual.len() != expected.len() {
        return Some((usize::MAX, actual.len() as f64, expected.len() as f64));
    }
    actual
        .iter()
        .zip(expected)
        .enumerate()
        .find(|(_, (&a, &e))| {
            let ok = (a - e).abs() <= atol + rtol * e.abs() || (a.is_nan() && e.is_nan()) || a == e;
            !ok
        })
        .map(|(i, (&a, &e))| (i, a, e))
}

/// Values for one input of an op-table row.
pub fn input_values(domain: Domain, n: usize, seed: u64) -> Vec<f64> {
    match domain {
        Domain::Any => uniform(n, seed, -2.0, 2.0),
        Domain::Positive => uniform(n, seed, 0.5, 2.0),
        Domain::Unit => uniform(n, seed, -0.9, 0.9),
        Domain::Logits => uniform(n, seed, -30.0, 30.0),
        Domain::Stored(_) => uniform(n, seed, -20.0, 20.0),
        Domain::Ties => uniform(n, seed, -1.0, 1.0)
            .iter()
            .map(|v| (v * 2.0).round())
            .collect(),
        Domain::AwayFromZero => {
            let mag = uniform(n, seed, 0.3, 2.0);
            let sign = uniform(n, seed ^ 0x5eed, -1.0, 1.0);
            mag.iter()
                .zip(sign)
                .map(|(m, s)| if s < 0.0 { -m } else { *m })
                .collect()
        }
        Domain::Index(k) => uniform(n, seed, 0.0, k as f64)
            .iter()
            .map(|v| v.floor())
            .collect(),
    }
}

/// Integer inputs of `dtype` (i32 or u32): small values, every 7th a zero (`x / 0 = x`), and with
/// `extremes` every 11th at the edge of the range (where arithmetic wraps: `i32::MIN / -1`, `-i32::MIN`,
/// `u32::MAX + 1`).
pub fn int_values(n: usize, seed: u64, dtype: DType, extremes: bool) -> Vec<f64> {
    let (lo, edges) = match dtype {
        DType::U32 => (
            0.0,
            [u32::MAX as f64, 2_147_483_648.0, 2_147_483_647.0, 1.0],
        ),
        _ => (
            -20.0,
            [
                i32::MIN as f64,
                i32::MAX as f64,
                -1.0,
                i32::MIN as f64 + 1.0,
            ],
        ),
    };
    uniform(n, seed, lo, 21.0)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if extremes && i % 11 == 5 {
                edges[(i / 11) % edges.len()]
            } else if i % 7 == 3 {
                0.0
            } else {
                v.floor()
            }
        })
        .collect()
}
