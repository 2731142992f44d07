//! Learning-rate schedules: pure functions of the step number, fed to [`super::Optimizer::set_lr`].
//!
//! The learning rate is a host number baked into each step's graph, so a schedule changes nothing but that
//! number. Steps count from 0 (the first optimizer step uses `lr(0)`).

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// A learning rate for every step.
pub trait LrSchedule {
    fn lr(&self, step: usize) -> f64;
}

/// The same rate every step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConstantLr(pub f64);

impl LrSchedule for ConstantLr {
    fn lr(&self, _step: usize) -> f64 {
        self.0
    }
}

/// `base·γ^⌊step/step_size⌋` (PyTorch `StepLR`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepLr {
    pub base: f64,
    pub step_size: usize,
    pub gamma: f64,
}

impl LrSchedule for StepLr {
    fn lr(&self, step: usize) -> f64 {
        self.base * self.gamma.powi((step / self.step_size.max(1)) as i32)
    }
}

/// `base·γ^step` (PyTorch `ExponentialLR`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExponentialLr {
    pub base: f64,
    pub gamma: f64,
}

impl LrSchedule for ExponentialLr {
    fn lr(&self, step: usize) -> f64 {
        self.base * self.gamma.powi(step as i32)
    }
}

/// `min + ½(base - min)(1 + cos(π·step/total))`, then `min` after `total` steps (PyTorch
/// `CosineAnnealingLR` without restarts).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CosineLr {
    pub base: f64,
    pub min: f64,
    pub total: usize,
}

fn cos_anneal(start: f64, end: f64, pct: f64) -> f64 {
    end + (start - end) / 2.0 * (1.0 + (PI * pct.clamp(0.0, 1.0)).cos())
}

impl LrSchedule for CosineLr {
    fn lr(&self, step: usize) -> f64 {
        cos_anneal(self.base, self.min, step as f64 / self.total.max(1) as f64)
    }
}

/// A linear ramp `inner.lr(0)·(step + 1)/warmup` over the first `warmup` steps, then the inner schedule
/// (shifted, so it starts at its step 0 when the warm-up ends).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearWarmup<S> {
    pub warmup: usize,
    pub inner: S,
}

impl<S: LrSchedule> LrSchedule for LinearWarmup<S> {
    fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            self.inner.lr(0) * (step + 1) as f64 / self.warmup as f64
        } else {
            self.inner.lr(step - self.warmup)
        }
    }
}

/// One-cycle (Smith & Topor; PyTorch `OneCycleLR` with cosine annealing, two phases): from `max_lr/div` up to
/// `max_lr` over the first `pct_start` of `total` steps, then down to `max_lr/(div·final_div)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneCycleLr {
    pub max_lr: f64,
    pub total: usize,
    pub pct_start: f64,
    pub div_factor: f64,
    pub final_div_factor: f64,
}

impl OneCycleLr {
    /// PyTorch's defaults: 30% warm-up, div 25, final div 1e4.
    pub fn new(max_lr: f64, total: usize) -> Self {
        OneCycleLr {
            max_lr,
            total,
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
        }
    }
}

impl LrSchedule for OneCycleLr {
    fn lr(&self, step: usize) -> f64 {
        let initial = self.max_lr / self.div_factor;
        let min = initial / self.final_div_factor;
        let peak_step = self.pct_start * self.total as f64 - 1.0;
        let last = self.total as f64 - 1.0;
        let s = step as f64;
        if s <= peak_step {
            cos_anneal(initial, self.max_lr, s / peak_step.max(1e-12))
        } else {
            cos_anneal(
                self.max_lr,
                min,
                (s - peak_step) / (last - peak_step).max(1e-12),
            )
        }
    }
}
