//! Adam and AdamW (PyTorch's formulation: ε outside the square root, bias correction on both moments).

use serde::{Deserialize, Serialize};
use wgrad_graph::{Result, Tensor};

use super::sgd::with_l2;
use super::{check_hyper, UpdateRule};

/// Adam: `m ← β₁m + (1-β₁)g`, `v ← β₂v + (1-β₂)g²`,
/// `w ← w - lr·(m/(1-β₁ᵗ)) / (√(v/(1-β₂ᵗ)) + ε)`. `weight_decay` is L2 (added to `g`); for decoupled decay
/// use [`AdamWConfig`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    /// lr 1e-3, β = (0.9, 0.999), ε = 1e-8, no weight decay.
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// AdamW: Adam without L2 in the gradient; instead `w ← w·(1 - lr·λ)` before the Adam step (decoupled weight
/// decay, Loshchilov & Hutter).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    /// lr 1e-3, β = (0.9, 0.999), ε = 1e-8, weight decay 0.01 (PyTorch's defaults).
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

const ADAM_SLOTS: [&str; 2] = ["exp_avg", "exp_avg_sq"];

/// The shared Adam step on an already decayed `w` and `g`.
fn adam_step(
    w: &Tensor,
    g: &Tensor,
    state: &[Tensor],
    (beta1, beta2, eps): (f64, f64, f64),
    t: u64,
    lr: f64,
) -> Result<(Tensor, Vec<Tensor>)> {
    let (m, v) = match state {
        [m, v] => (m, v),
        _ => {
            return Err(wgrad_graph::Error::argument(
                "adam",
                format!("expected 2 state slots, got {}", state.len()),
            ))
        }
    };
    let m = m.mul(beta1)?.add(&g.mul(1.0 - beta1)?)?;
    let v = v.mul(beta2)?.add(&g.mul(g)?.mul(1.0 - beta2)?)?;
    let bc1 = 1.0 - beta1.powi(t as i32);
    let bc2 = 1.0 - beta2.powi(t as i32);
    let denom = v.sqrt()?.div(bc2.sqrt())?.add(eps)?;
    let w = w.sub(&m.div(&denom)?.mul(lr / bc1)?)?;
    Ok((w, vec![m, v]))
}

impl UpdateRule for AdamConfig {
    fn slots(&self) -> Vec<&'static str> {
        ADAM_SLOTS.to_vec()
    }
    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<()> {
        check_hyper("adam", "learning rate", self.lr, 0.0..f64::INFINITY)?;
        check_hyper("adam", "epsilon value", self.eps, 0.0..f64::INFINITY)?;
        check_hyper("adam", "beta parameter at index 0", self.beta1, 0.0..1.0)?;
        check_hyper("adam", "beta parameter at index 1", self.beta2, 0.0..1.0)?;
        check_hyper(
            "adam",
            "weight_decay value",
            self.weight_decay,
            0.0..f64::INFINITY,
        )
    }
    fn update(
        &self,
        w: &Tensor,
        g: &Tensor,
        state: &[Tensor],
        t: u64,
        lr: f64,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let g = with_l2(g, w, self.weight_decay)?;
        adam_step(w, &g, state, (self.beta1, self.beta2, self.eps), t, lr)
    }
}

impl UpdateRule for AdamWConfig {
    fn slots(&self) -> Vec<&'static str> {
        ADAM_SLOTS.to_vec()
    }
    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<()> {
        check_hyper("adamw", "learning rate", self.lr, 0.0..f64::INFINITY)?;
        check_hyper("adamw", "epsilon value", self.eps, 0.0..f64::INFINITY)?;
        check_hyper("adamw", "beta parameter at index 0", self.beta1, 0.0..1.0)?;
        check_hyper("adamw", "beta parameter at index 1", self.beta2, 0.0..1.0)?;
        check_hyper(
            "adamw",
            "weight_decay value",
            self.weight_decay,
            0.0..f64::INFINITY,
        )
    }
    fn update(
        &self,
        w: &Tensor,
        g: &Tensor,
        state: &[Tensor],
        t: u64,
        lr: f64,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let decayed = if self.weight_decay == 0.0 {
            w.clone()
        } else {
            w.mul(1.0 - lr * self.weight_decay)?
        };
        adam_step(
            &decayed,
            g,
            state,
            (self.beta1, self.beta2, self.eps),
            t,
            lr,
        )
    }
}
