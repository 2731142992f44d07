//! `Sequential`: a chain of modules applied in order.

use wgrad_graph::{Result, Tensor};

use crate::module::Forward;
use crate::Module;

/// Modules applied one after another. Parameters are named by position, `0.weight`, `2.bias`, as in PyTorch.
///
/// # Shapes
/// - input: what the first module takes; output: what the last one gives
#[derive(Debug, Default, Module)]
pub struct Sequential {
    #[module(flatten)]
    layers: Vec<Box<dyn Forward>>,
}

impl Sequential {
    pub fn new() -> Self {
        Sequential::default()
    }

    /// Appends a module (builder style).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Forward + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a module in place.
    pub fn push(&mut self, layer: impl Forward + 'static) {
        self.layers.push(Box::new(layer));
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Forward for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        for layer in &self.layers {
            y = layer.forward(&y)?;
        }
        Ok(y)
    }
}
