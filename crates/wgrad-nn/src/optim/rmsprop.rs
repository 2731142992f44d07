//! RMSProp (PyTorch's formulation: ε outside the square root, optional momentum).

use serde::{Deserialize, Serialize};
use wgrad_graph::{Result, Tensor};

use super::sgd::with_l2;
use super::{check_hyper, UpdateRule};

/// `v ← αv + (1-α)g²`, `w ← w - lr·g/(√v + ε)`; with momentum `b ← μb + g/(√v + ε)`, `w ← w - lr·b`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RmsPropConfig {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
}

impl Default for RmsPropConfig {
    /// lr 0.01, α = 0.99, ε = 1e-8 (PyTorch's defaults).
    fn default() -> Self {
        RmsPropConfig {
            lr: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
        }
    }
}

impl UpdateRule for RmsPropConfig {
    fn slots(&self) -> Vec<&'static str> {
        if self.momentum != 0.0 {
            vec!["square_avg", "momentum_buffer"]
        } else {
            vec!["square_avg"]
        }
    }
    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<()> {
        check_hyper("rmsprop", "learning rate", self.lr, 0.0..f64::INFINITY)?;
        check_hyper("rmsprop", "epsilon value", self.eps, 0.0..f64::INFINITY)?;
        check_hyper("rmsprop", "alpha value", self.alpha, 0.0..f64::INFINITY)?;
        check_hyper(
            "rmsprop",
            "momentum value",
            self.momentum,
            0.0..f64::INFINITY,
        )?;
        check_hyper(
            "rmsprop",
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
        _t: u64,
        lr: f64,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let g = with_l2(g, w, self.weight_decay)?;
        let Some(sq) = state.first() else {
            return Err(wgrad_graph::Error::argument(
                "rmsprop",
                "missing square_avg state",
            ));
        };
        let v = sq
            .mul(self.alpha)?
            .add(&g.mul(&g)?.mul(1.0 - self.alpha)?)?;
        let step = g.div(&v.sqrt()?.add(self.eps)?)?;
        match state.get(1) {
            Some(buf) => {
                let b = buf.mul(self.momentum)?.add(&step)?;
                Ok((w.sub(&b.mul(lr)?)?, vec![v, b]))
            }
            None => Ok((w.sub(&step.mul(lr)?)?, vec![v])),
        }
    }
}
