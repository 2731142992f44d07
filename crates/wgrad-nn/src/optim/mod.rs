//! Optimizers: one training step as one schedule.
//!
//! Two ways to step, both realizing the new parameters, the new optimizer state and anything deferred on
//! the device (the loss `backward` was called on, pending batch-norm statistics) in ONE
//! [`wgrad_graph::realize()`] call: on the GPU one command encoder and one submit per step.
//! - PyTorch's habit, `loss.backward()?; opt.step()?;`: [`Optimizer::step`] applies the gradients
//!   accumulated in the parameters and keeps them (readable, and accumulating until
//!   [`Optimizer::zero_grad`], as in PyTorch).
//! - candle's one call, [`Optimizer::backward_step`]`(&loss)`: backward and update together, the gradients
//!   dropped afterwards (they never need to be written out). It refuses to run on parameters that already
//!   hold gradients, so calling it after `loss.backward()` cannot silently double them.
//!
//! [`Optimizer::apply_gradients`] steps with gradients computed elsewhere (averaged across processes by
//! data-parallel training). The update math of each algorithm is an [`UpdateRule`]; the [`Optimizer`] owns
//! the parameters, their state, the learning rate (a host number, so schedules just call
//! [`Optimizer::set_lr`]) and gradient clipping, and takes its rule as a trait object, so the algorithm can
//! be chosen at run time.

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
pub trait UpdateRule: std::fmt::Debug + Send {
    /// Names of the per-parameter state slots (`exp_avg`, `exp_avg_sq`), as they appear in checkpoints.
    fn slots(&self) -> Vec<&'static str>;

    /// The learning rate the optimizer starts with.
    fn lr(&self) -> f64;

    /// Checks the hyper-parameters (PyTorch's constructor checks); a step with invalid ones is an error.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

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

impl<R: UpdateRule + 'static> From<R> for Box<dyn UpdateRule> {
    fn from(rule: R) -> Self {
        Box::new(rule)
    }
}

/// An optimizer over a set of parameters, with any [`UpdateRule`] (`SgdConfig`, `AdamConfig`, …).
///
/// ```text
/// let mut opt = Optimizer::new(model.parameters(), AdamConfig::default());
/// opt.zero_grad();
/// loss.backward()?;
/// opt.step()?;                       // one realize: update, state, and the loss
/// println!("{}", loss.item()?);      // already computed
/// ```
#[derive(Debug)]
pub struct Optimizer {
    params: Vec<Param>,
    /// One entry per parameter: its slots in `rule.slots()` order.
    state: Vec<Vec<Tensor>>,
    rule: Box<dyn UpdateRule>,
    lr: f64,
    steps: u64,
    clip: Option<GradClip>,
}

/// What the updates of one step produced, before they are swapped in.
struct Pending {
    /// `(param index, new value, new state)`.
    updates: Vec<(usize, Tensor, Vec<Tensor>)>,
}

impl Optimizer {
    /// An optimizer over the trainable `params` (buffers, which get no gradient, are skipped). A parameter
    /// listed twice (a layer shared by two paths) is kept once, so it is updated once per step.
    ///
    /// `rule` is any [`UpdateRule`] or a `Box<dyn UpdateRule>` chosen at run time.
    pub fn new(params: Vec<Param>, rule: impl Into<Box<dyn UpdateRule>>) -> Self {
        let rule: Box<dyn UpdateRule> = rule.into();
        let mut unique: Vec<Param> = Vec::with_capacity(params.len());
        for p in params.into_iter().filter(Param::is_trainable) {
            if !unique.iter().any(|q| q.same(&p)) {
                unique.push(p);
            }
        }
        let state = unique
            .iter()
            .map(|p| rule.init_state(&p.tensor()))
            .collect();
        let lr = rule.lr();
        Optimizer {
            params: unique,
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

    pub fn rule(&self) -> &dyn UpdateRule {
        self.rule.as_ref()
    }

    /// The parameters, in the order [`Optimizer::apply_gradients`] takes gradients.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Drops every stored gradient (PyTorch's `zero_grad(set_to_none=True)`).
    pub fn zero_grad(&self) {
        for p in &self.params {
            p.zero_grad();
        }
    }

    /// Applies the gradients accumulated in the parameters by `backward` (PyTorch's `optimizer.step()`).
    /// Parameters without a gradient are left as they are. The gradients are realized with the update and
    /// kept, so they can be read, and they accumulate with the next `backward` until
    /// [`Optimizer::zero_grad`].
    pub fn step(&mut self) -> Result<()> {
        let grads: Vec<Option<Tensor>> = self.params.iter().map(Param::grad).collect();
        let kept: Vec<Tensor> = grads.iter().flatten().cloned().collect();
        let kept_refs: Vec<&Tensor> = kept.iter().collect();
        self.update(&grads, &kept_refs)?;
        // the realized gradients replace the pending ones, so holding them keeps no graph alive
        for (p, g) in self.params.iter().zip(&grads) {
            if let Some(g) = g {
                p.set_grad(Some(g.detach()));
            }
        }
        Ok(())
    }

    /// Backward, update and realize in one schedule; returns the realized loss (a detached leaf, so holding
    /// it keeps no graph alive). Reading it (`item()`) is the only transfer back. The gradients are dropped
    /// afterwards.
    ///
    /// # Errors
    /// `Error::Argument` when a parameter already holds a gradient (`loss.backward()` was called first: use
    /// [`Optimizer::step`], or [`Optimizer::zero_grad`] before), and whatever backward or the update raise;
    /// on any error no gradient is left behind.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<Tensor> {
        self.backward_step_with(loss, &[])
    }

    /// [`Optimizer::backward_step`] that also realizes `extra` (logits for accuracy, say) in the same
    /// schedule.
    pub fn backward_step_with(&mut self, loss: &Tensor, extra: &[&Tensor]) -> Result<Tensor> {
        if let Some(p) = self.params.iter().find(|p| p.grad().is_some()) {
            return Err(Error::argument(
                "backward_step",
                format!(
                    "parameter {} already has a gradient (was loss.backward() called?): call step() to \
                     apply it, or zero_grad() first",
                    p.name()
                ),
            ));
        }
        let result = loss.backward().and_then(|()| {
            let grads: Vec<Option<Tensor>> = self.params.iter().map(Param::grad).collect();
            let mut targets = vec![loss];
            targets.extend(extra.iter().copied());
            self.update(&grads, &targets)
        });
        self.zero_grad();
        result.map(|()| loss.detach())
    }

    /// Steps with gradients computed elsewhere: one per parameter of [`Optimizer::params`], in that order
    /// (`None` leaves a parameter as it is). Data-parallel training passes the gradients averaged across
    /// processes here. Gradients stored in the parameters are not read, and are dropped.
    ///
    /// # Errors
    /// `Error::Argument` when the count differs from the parameters', `Error::Shape` when a gradient's shape
    /// differs from its parameter's.
    pub fn apply_gradients(&mut self, grads: &[Option<Tensor>]) -> Result<()> {
        if grads.len() != self.params.len() {
            return Err(Error::argument(
                "apply_gradients",
                format!(
                    "{} gradients for {} parameters",
                    grads.len(),
                    self.params.len()
                ),
            ));
        }
        for (p, g) in self.params.iter().zip(grads) {
            if let Some(g) = g {
                if g.shape() != p.tensor().shape() {
                    return Err(Error::shape(
                        "apply_gradients",
                        format!(
                            "gradient {} for parameter {} of shape {}",
                            g.shape(),
                            p.name(),
                            p.tensor().shape()
                        ),
                    ));
                }
            }
        }
        self.update(grads, &[])
    }

    /// Builds the updates from `grads`, realizes them with `extra` in one schedule, swaps them in.
    fn update(&mut self, grads: &[Option<Tensor>], extra: &[&Tensor]) -> Result<()> {
        check_hyper("optimizer", "learning rate", self.lr, 0.0..f64::INFINITY)?;
        self.rule.validate()?;
        let pending = no_grad(|| self.build_updates(grads))?;
        let mut targets: Vec<Tensor> = extra.iter().map(|&t| t.clone()).collect();
        for (_, w, s) in &pending.updates {
            targets.push(w.clone());
            targets.extend(s.iter().cloned());
        }
        let refs: Vec<&Tensor> = targets.iter().collect();
        realize(&refs)?;
        // The replaced leaves must not keep their gradients: a gradient's graph reaches back to its own
        // leaf (through the forward pass), a reference cycle that would keep every old parameter alive.
        self.zero_grad();
        self.swap_in(pending)?;
        self.steps += 1;
        Ok(())
    }

    /// Builds (lazily) the new values of every parameter that has a gradient.
    fn build_updates(&self, grads: &[Option<Tensor>]) -> Result<Pending> {
        let (idx, grads): (Vec<usize>, Vec<Tensor>) = grads
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.clone().map(|g| (i, g)))
            .unzip();
        let grads = match self.clip {
            Some(c) if !grads.is_empty() => c.apply(&grads)?,
            _ => grads,
        };
        let t = self.steps + 1;
        let mut updates = Vec::with_capacity(idx.len());
        for (i, g) in idx.into_iter().zip(grads) {
            let w = self.params[i].tensor();
            let g = if g.dtype() == w.dtype() {
                g
            } else {
                g.cast(w.dtype())?
            };
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
        Ok(())
    }
}

/// `Err(Argument)` naming the hyper-parameter unless `value` lies in `range` (PyTorch's "Invalid learning
/// rate: -1" and the like).
pub(crate) fn check_hyper(
    op: &'static str,
    what: &str,
    value: f64,
    range: std::ops::Range<f64>,
) -> Result<()> {
    if !range.contains(&value) {
        return Err(Error::argument(
            op,
            format!(
                "invalid {what}: {value} (must be in [{}, {}))",
                range.start, range.end
            ),
        ));
    }
    Ok(())
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

impl OptimizerState for Optimizer {
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
