//! Optimizers: one training step as one schedule.
//!
//! [`Optimizer::step`] runs `backward`, builds every parameter and state update as graph nodes under
//! `no_grad`, and realizes the loss, the new parameters, the new optimizer state and any pending buffer
//! (batch-norm running statistics) in ONE [`wgrad_graph::realize`] call: on the GPU one command encoder and
//! one submit per step, with no readback unless the caller reads the returned loss. Then it swaps the new
//! values into the [`Param`]s as fresh leaves and drops the gradients.
//!
//! The update math of each algorithm is an [`UpdateRule`]; [`Optimizer`] owns the parameters, the state, the
//! learning rate (a host number, so schedules just call [`Optimizer::set_lr`]) and gradient clipping.

mod adagrad;
mod adam;
mod clip;
mod rmsprop;
pub mod schedule;
mod sgd;

pub use adagrad::AdagradConfig;
pub use adam::{AdamConfig, AdamWConfig};
pub use clip::{clip_grad_norm, clip_grad_value, GradClip};
pub use rmsprop::RmsPropConfig;
pub use sgd::SgdConfig;

use wgrad_graph::{no_grad, realize, Error, Result, Tensor};

use crate::param::Param;

/// The math of one optimizer: how a parameter and its state slots change given a gradient.
pub trait UpdateRule: std::fmt::Debug {
    /// Names of the per-parameter state slots (`exp_avg`, `exp_avg_sq`), as they appear in checkpoints.
    fn slots(&self) -> Vec<&'static str>;

    /// The learning rate the optimizer starts with.
    fn lr(&self) -> f64;

    /// Initial state for a parameter, one tensor per slot (zeros unless the rule says otherwise).
    fn init_state(&self, w: &Tensor) -> Vec<Tensor> {
        self.slots().iter().map(|_| w.zeros_like()).collect()
    }

    /// The new parameter and state after one step. `t` counts steps from 1 (for bias correction); `lr` is the
    /// current learning rate. Called under `no_grad`; must only build graph nodes.
    fn update(
        &self,
        w: &Tensor,
        g: &Tensor,
        state: &[Tensor],
        t: u64,
        lr: f64,
    ) -> Result<(Tensor, Vec<Tensor>)>;
}

/// An optimizer over a set of parameters with the update rule `R` (one of the `*Config` types).
///
/// ```text
/// let mut opt = Optimizer::new(model.params(), AdamConfig::default());
/// let loss = opt.step(&cross_entropy(&model.forward(&x)?, &y)?)?;   // one realize
/// println!("{}", loss.item()?);
/// ```
#[derive(Debug)]
pub struct Optimizer<R: UpdateRule> {
    params: Vec<Param>,
    /// One entry per parameter: its slots in `rule.slots()` order (empty for buffers).
    state: Vec<Vec<Tensor>>,
    rule: R,
    lr: f64,
    steps: u64,
    clip: Option<GradClip>,
}

/// Stochastic gradient descent (with momentum, Nesterov, weight decay).
pub type Sgd = Optimizer<SgdConfig>;
/// Adam with L2 weight decay added to the gradient.
pub type Adam = Optimizer<AdamConfig>;
/// Adam with decoupled weight decay.
pub type AdamW = Optimizer<AdamWConfig>;
pub type RmsProp = Optimizer<RmsPropConfig>;
pub type Adagrad = Optimizer<AdagradConfig>;

/// What the updates of one step produced, before they are swapped in.
struct Pending {
    /// `(param index, new value, new state)`.
    updates: Vec<(usize, Tensor, Vec<Tensor>)>,
}

impl<R: UpdateRule> Optimizer<R> {
    /// An optimizer over `params` (trainable ones are updated; buffers are realized each step). A parameter
    /// listed twice (a layer shared by two paths) is kept once, so it is updated once per step.
    pub fn new(params: Vec<Param>, rule: R) -> Self {
        let mut unique: Vec<Param> = Vec::with_capacity(params.len());
        for p in params {
            if !unique.iter().any(|q| q.same(&p)) {
                unique.push(p);
            }
        }
        let params = unique;
        let state = params
            .iter()
            .map(|p| {
                if p.is_trainable() {
                    rule.init_state(&p.tensor())
                } else {
                    Vec::new()
                }
            })
            .collect();
        let lr = rule.lr();
        Optimizer {
            params,
            state,
            rule,
            lr,
            steps: 0,
            clip: None,
        }
    }

    /// Clips gradients before every update.
    pub fn with_clip(mut self, clip: GradClip) -> Self {
        self.clip = Some(clip);
        self
    }

    pub fn set_clip(&mut self, clip: Option<GradClip>) {
        self.clip = clip;
    }

    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate for the next steps (what LR schedules call; nothing is rebuilt).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    pub fn rule(&self) -> &R {
        &self.rule
    }

    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Drops every stored gradient.
    pub fn zero_grad(&self) {
        for p in &self.params {
            p.zero_grad();
        }
    }

    /// Backward, update and realize in one schedule; returns the realized loss (a detached leaf, so holding it
    /// keeps no graph alive). Reading it (`item()`) is the only transfer back. `step` runs `backward` itself:
    /// do not call `loss.backward()` before it, or the gradients count twice.
    pub fn step(&mut self, loss: &Tensor) -> Result<Tensor> {
        self.step_with(loss, &[])
    }

    /// [`Optimizer::step`] that also realizes `extra` (logits for accuracy, say) in the same schedule.
    pub fn step_with(&mut self, loss: &Tensor, extra: &[&Tensor]) -> Result<Tensor> {
        // on any failure the step leaves no gradients behind, so the next step starts clean
        if let Err(e) = loss.backward() {
            self.zero_grad();
            return Err(e);
        }
        let pending = no_grad(|| self.build_updates());
        let pending = match pending {
            Ok(p) => p,
            Err(e) => {
                self.zero_grad();
                return Err(e);
            }
        };
        let mut targets: Vec<Tensor> = vec![loss.clone()];
        targets.extend(extra.iter().map(|&t| t.clone()));
        for (_, w, s) in &pending.updates {
            targets.push(w.clone());
            targets.extend(s.iter().cloned());
        }
        targets.extend(
            self.params
                .iter()
                .filter(|p| !p.is_trainable())
                .map(|p| p.tensor()),
        );
        let refs: Vec<&Tensor> = targets.iter().collect();
        let realized = realize(&refs);
        self.zero_grad();
        realized?;
        self.swap_in(pending)?;
        self.steps += 1;
        Ok(loss.detach())
    }

    /// Builds (lazily) the new values of every parameter that has a gradient.
    fn build_updates(&self) -> Result<Pending> {
        let mut idx = Vec::new();
        let mut grads = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            if let (true, Some(g)) = (p.is_trainable(), p.grad()) {
                idx.push(i);
                grads.push(g);
            }
        }
        let grads = match self.clip {
            Some(c) => c.apply(&grads)?,
            None => grads,
        };
        let t = self.steps + 1;
        let mut updates = Vec::with_capacity(idx.len());
        for (i, g) in idx.into_iter().zip(grads) {
            let w = self.params[i].tensor();
            let (nw, ns) = self.rule.update(&w, &g, &self.state[i], t, self.lr)?;
            updates.push((i, nw, ns));
        }
        Ok(Pending { updates })
    }

    fn swap_in(&mut self, pending: Pending) -> Result<()> {
        for (i, w, s) in pending.updates {
            self.params[i].set(&w)?;
            self.state[i] = s.iter().map(|t| t.detach()).collect();
        }
        for p in self.params.iter().filter(|p| !p.is_trainable()) {
            p.commit()?;
        }
        Ok(())
    }
}

/// Access to an optimizer's state for checkpoints, independent of the rule.
pub trait OptimizerState {
    /// `(param, slot name, value)` for every state tensor.
    fn state_tensors(&self) -> Vec<(Param, &'static str, Tensor)>;
    /// Replaces one slot of one parameter's state. Errors if the parameter or slot is unknown.
    fn set_state_tensor(&mut self, param: &Param, slot: &str, value: Tensor) -> Result<()>;
    /// Steps taken (for bias correction).
    fn step_count(&self) -> u64;
    fn set_step_count(&mut self, steps: u64);
}

impl<R: UpdateRule> OptimizerState for Optimizer<R> {
    fn state_tensors(&self) -> Vec<(Param, &'static str, Tensor)> {
        let slots = self.rule.slots();
        let mut out = Vec::new();
        for (p, s) in self.params.iter().zip(&self.state) {
            for (name, t) in slots.iter().zip(s) {
                out.push((p.clone(), *name, t.clone()));
            }
        }
        out
    }

    fn set_state_tensor(&mut self, param: &Param, slot: &str, value: Tensor) -> Result<()> {
        let slots = self.rule.slots();
        let i = self.params.iter().position(|p| p.same(param));
        let j = slots.iter().position(|s| *s == slot);
        match (i, j) {
            (Some(i), Some(j)) if j < self.state[i].len() => {
                self.state[i][j] = value;
                Ok(())
            }
            _ => Err(Error::argument(
                "optimizer",
                format!("no state slot {slot} for parameter {}", param.name()),
            )),
        }
    }

    fn step_count(&self) -> u64 {
        self.steps
    }

    fn set_step_count(&mut self, steps: u64) {
        self.steps = steps;
    }
}
