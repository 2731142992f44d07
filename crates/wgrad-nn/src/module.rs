//! The `Module` trait: named parameters and buffers plus a train/eval switch; [`Forward`] for modules that
//! map one tensor to one tensor.
//!
//! Derive `Module` (`#[derive(Module)]`, from `wgrad-derive`) instead of writing it: every field is visited
//! in declaration order, so a composite model cannot forget a child's parameters or leave a child's dropout
//! in training mode during evaluation.
//!
//! ```
//! use wgrad_graph::{Device, Result, Tensor};
//! use wgrad_nn::{Activation, Dropout, Forward, Linear, LinearConfig, Module};
//!
//! #[derive(Debug, Module)]
//! struct Mlp {
//!     fc1: Linear,
//!     dropout: Dropout,
//!     fc2: Linear,
//!     #[module(skip)]
//!     hidden: usize,
//! }
//!
//! impl Forward for Mlp {
//!     fn forward(&self, x: &Tensor) -> Result<Tensor> {
//!         let h = Activation::Relu.forward(&self.fc1.forward(x)?)?;
//!         self.fc2.forward(&self.dropout.forward(&h)?)
//!     }
//! }
//!
//! # fn main() -> Result<()> {
//! let dev = Device::new(wgrad_cpu::CpuBackend);
//! let mut mlp = Mlp {
//!     fc1: LinearConfig::new(4, 8).init(&dev)?,
//!     dropout: Dropout::new(0.5)?,
//!     fc2: LinearConfig::new(8, 2).init(&dev)?,
//!     hidden: 8,
//! };
//! let names: Vec<String> = mlp.named_parameters().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
//! mlp.eval(); // reaches the dropout
//! # Ok(())
//! # }
//! ```

use wgrad_graph::{Result, Tensor};

use crate::param::Param;

/// A layer or a model: its parameters and buffers by path, and a training switch.
///
/// Paths are field names joined with dots (`conv1.weight`; `0.bias` inside a `Sequential`), the keys of
/// PyTorch's `state_dict`, which checkpoints use.
pub trait Module: std::fmt::Debug {
    /// Calls `f(path, param)` for every parameter and buffer, in a fixed order. `prefix` is the module's own
    /// path (`""` at the root).
    fn visit_params(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param));

    /// Switches training behaviour (dropout masks, batch statistics) here and in every child.
    fn set_training(&mut self, training: bool);

    /// Training mode (PyTorch's `model.train()`).
    fn train(&mut self) {
        self.set_training(true);
    }

    /// Evaluation mode (PyTorch's `model.eval()`).
    fn eval(&mut self) {
        self.set_training(false);
    }

    /// Every parameter and buffer with its path: what a checkpoint holds (PyTorch's `state_dict`).
    fn state(&self) -> Vec<(String, Param)> {
        let mut out = Vec::new();
        self.visit_params("", &mut |name, p| out.push((name.to_string(), p.clone())));
        out
    }

    /// Trainable parameters with their paths (PyTorch's `named_parameters`).
    fn named_parameters(&self) -> Vec<(String, Param)> {
        let mut all = self.state();
        all.retain(|(_, p)| p.is_trainable());
        all
    }

    /// Trainable parameters: what an optimizer takes (PyTorch's `parameters`).
    fn parameters(&self) -> Vec<Param> {
        self.named_parameters()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// Buffers (state that is saved but not trained, such as batch-norm running statistics) with paths.
    fn named_buffers(&self) -> Vec<(String, Param)> {
        let mut all = self.state();
        all.retain(|(_, p)| !p.is_trainable());
        all
    }

    /// Buffers (PyTorch's `buffers`).
    fn buffers(&self) -> Vec<Param> {
        self.named_buffers().into_iter().map(|(_, p)| p).collect()
    }

    /// Number of trainable scalars (Keras' "trainable params").
    fn num_params(&self) -> usize {
        self.parameters().iter().map(Param::numel).sum()
    }
}

/// A module with one input tensor and one output tensor: what [`crate::Sequential`] chains.
pub trait Forward: Module {
    /// The forward pass.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
}

/// A part of a module, as `#[derive(Module)]` visits it: a [`Param`], any [`Module`], and `Option`s and
/// `Vec`s of those (a `Vec`'s items are named by position, as in PyTorch's `ModuleList`).
pub trait Visit {
    /// Calls `f(path, param)` for every parameter and buffer of the part, `prefix` being its path.
    fn visit_part(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param));
    /// Switches the part's training behaviour.
    fn set_part_training(&mut self, training: bool);
}

impl Visit for Param {
    fn visit_part(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        f(prefix, self);
    }
    fn set_part_training(&mut self, _training: bool) {}
}

impl<M: Module + ?Sized> Visit for M {
    fn visit_part(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        self.visit_params(prefix, f);
    }
    fn set_part_training(&mut self, training: bool) {
        self.set_training(training);
    }
}

impl<T: Visit> Visit for Option<T> {
    fn visit_part(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        if let Some(part) = self {
            part.visit_part(prefix, f);
        }
    }
    fn set_part_training(&mut self, training: bool) {
        if let Some(part) = self {
            part.set_part_training(training);
        }
    }
}

impl<T: Visit> Visit for Vec<T> {
    fn visit_part(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        for (i, part) in self.iter().enumerate() {
            part.visit_part(&join(prefix, &i.to_string()), f);
        }
    }
    fn set_part_training(&mut self, training: bool) {
        for part in self {
            part.set_part_training(training);
        }
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
    fn visit_params(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        (**self).visit_params(prefix, f)
    }
    fn set_training(&mut self, training: bool) {
        (**self).set_training(training)
    }
}

impl<M: Forward + ?Sized> Forward for Box<M> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        (**self).forward(x)
    }
}
