//! Adagrad (PyTorch's formulation, no learning-rate decay).

use serde::{Deserialize, Serialize};
use wgrad_graph::{Result, Tensor};

use super::sgd::with_l2;
use super::{check_hyper, UpdateRule};

/// `s ← s + g²`, `w ← w - lr·g/(√s + ε)`: each coordinate's step shrinks with its gradient history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdagradConfig {
    pub lr: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub initial_accumulator_value: f64,
}

impl Default for AdagradConfig {
    /// lr 0.01, ε = 1e-10, accumulator starting at 0 (PyTorch's defaults).
    fn default() -> Self {
        AdagradConfig {
            lr: 0.01,
            eps: 1e-10,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
        }
    }
}

impl UpdateRule for AdagradConfig {
    fn slots(&self) -> Vec<&'static str> {
        vec!["sum"]
    }
    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<()> {
        check_hyper("adagrad", "learning rate", self.lr, 0.0..f64::INFINITY)?;
        check_hyper("adagrad", "epsilon value", self.eps, 0.0..f64::INFINITY)?;
        check_hyper(
            "adagrad",
            "weight_decay value",
            self.weight_decay,
            0.0..f64::INFINITY,
        )?;
        check_hyper(
            "adagrad",
            "initial_accumulator_value",
            self.initial_accumulator_value,
            0.0..f64::INFINITY,
        )
    }
    fn init_state(&self, w: &Tensor) -> Vec<Tensor> {
        vec![w.full_like(self.initial_accumulator_value)]
    }
    fn update(
        &self,
        w: &Tensor,
        g: &Tensor,
        state: &[Tensor],
        _t: u64,
        lr: f64,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let g = with_l2(g, w, self.weight_decay)?;
        let Some(sum) = state.first() else {
            return Err(wgrad_graph::Error::argument("adagrad", "missing sum state"));
        };
        let s = sum.add(&g.mul(&g)?)?;
        let w = w.sub(&g.div(&s.sqrt()?.add(self.eps)?)?.mul(lr)?)?;
        Ok((w, vec![s]))
    }
}
