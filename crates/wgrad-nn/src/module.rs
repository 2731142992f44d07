//! The `Module` trait: a forward pass plus named parameters and a train/eval switch.

use wgrad_graph::{Result, Tensor};

use crate::param::Param;

/// A layer or a model.
///
/// Parameters are found by walking the module tree with [`Module::visit_params`], which hands each `Param` to
/// a callback with its dotted path (`conv1.weight`, `0.bias` inside a `Sequential`), the names checkpoints use
/// (and PyTorch's `state_dict` uses). A composite module implements `visit_params` by calling its children
/// with [`join`]ed prefixes:
///
/// ```text
/// fn visit_params(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
///     self.conv1.visit_params(&join(prefix, "conv1"), f);
///     self.fc.visit_params(&join(prefix, "fc"), f);
/// }
/// ```
pub trait Module: std::fmt::Debug {
    /// The forward pass.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// Calls `f(path, param)` for every parameter and buffer, in a fixed order. `prefix` is the module's own
    /// path (`""` at the root).
    fn visit_params(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param));

    /// Switches training behaviour (dropout masks, batch statistics). Layers without such behaviour ignore it;
    /// composites forward it to every child.
    fn set_training(&mut self, training: bool) {
        let _ = training;
    }

    /// Training mode (PyTorch's `model.train()`).
    fn train(&mut self) {
        self.set_training(true);
    }

    /// Evaluation mode (PyTorch's `model.eval()`).
    fn eval(&mut self) {
        self.set_training(false);
    }

    /// Every parameter and buffer with its path.
    fn named_params(&self) -> Vec<(String, Param)> {
        let mut out = Vec::new();
        self.visit_params("", &mut |name, p| out.push((name.to_string(), p.clone())));
        out
    }

    /// Handles to every parameter and buffer (what an optimizer takes). Buffers are included so the optimizer
    /// can realize their pending updates in its step.
    fn params(&self) -> Vec<Param> {
        self.named_params().into_iter().map(|(_, p)| p).collect()
    }

    /// Number of trainable scalars (Keras' "trainable params").
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit_params("", &mut |_, p| {
            if p.is_trainable() {
                n += p.numel();
            }
        });
        n
    }
}

/// `prefix.name`, or `name` at the root.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        (**self).forward(x)
    }
    fn visit_params(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        (**self).visit_params(prefix, f)
    }
    fn set_training(&mut self, training: bool) {
        (**self).set_training(training)
    }
}
