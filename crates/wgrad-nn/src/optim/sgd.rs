//! SGD with momentum, Nesterov momentum and L2 weight decay (PyTorch's `torch.optim.SGD`, no dampening).

use serde::{Deserialize, Serialize};
use wgrad_graph::{Result, Tensor};

use super::{check_hyper, UpdateRule};

/// `g ← g + λw`; with momentum `v ← μv + g`, then `w ← w - lr·v` (or `w ← w - lr·(g + μv)` with
/// Nesterov). The buffer starts at zero, which equals PyTorch's "first step copies g".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        SgdConfig {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

/// `g + λw`, or `g` when `λ = 0` (no node added).
pub(crate) fn with_l2(g: &Tensor, w: &Tensor, weight_decay: f64) -> Result<Tensor> {
    if weight_decay == 0.0 {
        Ok(g.clone())
    } else {
        g.add(&w.mul(weight_decay)?)
    }
}

impl UpdateRule for SgdConfig {
    fn slots(&self) -> Vec<&'static str> {
        if self.momentum != 0.0 {
            vec!["momentum_buffer"]
        } else {
            Vec::new()
        }
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<()> {
        check_hyper("sgd", "learning rate", self.lr, 0.0..f64::INFINITY)?;
        check_hyper("sgd", "momentum value", self.momentum, 0.0..f64::INFINITY)?;
        check_hyper(
            "sgd",
            "weight_decay value",
            self.weight_decay,
            0.0..f64::INFINITY,
        )?;
        if self.nesterov && self.momentum <= 0.0 {
            return Err(wgrad_graph::Error::argument(
                "sgd",
                "Nesterov momentum requires a momentum (and zero dampening)",
            ));
        }
        Ok(())
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
        let Some(buf) = state.first() else {
            return Ok((w.sub(&g.mul(lr)?)?, Vec::new()));
        };
        let v = buf.mul(self.momentum)?.add(&g)?;
        let dir = if self.nesterov {
            g.add(&v.mul(self.momentum)?)?
        } else {
            v.clone()
        };
        Ok((w.sub(&dir.mul(lr)?)?, vec![v]))
    }
}
