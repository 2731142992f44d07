//! Embedding lookup table.

use serde::{Deserialize, Serialize};
use wgrad_graph::{DType, Device, Error, Result, Tensor};

use crate::init;
use crate::module::Forward;
use crate::param::Param;
use crate::Module;

/// Configuration of an [`Embedding`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingConfig {
    pub num_embeddings: usize,
    pub dim: usize,
    /// Table dtype (f32; f64 and f16 where the backend computes them).
    #[serde(default = "init::default_dtype")]
    pub dtype: DType,
}

impl EmbeddingConfig {
    /// `num_embeddings` rows of `dim` f32 values.
    pub fn new(num_embeddings: usize, dim: usize) -> Self {
        EmbeddingConfig {
            num_embeddings,
            dim,
            dtype: DType::F32,
        }
    }

    /// The same config with a table of `dtype`.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// A table drawn from `N(0, 1)` (PyTorch's default).
    pub fn init(&self, device: &Device) -> Result<Embedding> {
        let w = init::normal(
            [self.num_embeddings, self.dim],
            0.0,
            1.0,
            self.dtype,
            device,
        )?;
        Ok(Embedding {
            weight: Param::trainable("weight", w)?,
        })
    }
}

/// Rows of a `[num_embeddings, dim]` table picked by integer ids. The gradient is a scatter-add into the
/// rows that were used (the backward of `gather`).
///
/// # Shapes
/// - input: i32 ids, any shape `[...]`
/// - output `[..., dim]`
#[derive(Clone, Debug, Module)]
pub struct Embedding {
    pub weight: Param,
}

impl Forward for Embedding {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        if ids.dtype() != DType::I32 {
            return Err(Error::dtype(
                "embedding",
                format!("ids must be i32, got {}", ids.dtype()),
            ));
        }
        let w = self.weight.tensor();
        let flat = ids.reshape([ids.numel()])?;
        let rows = w.index_select(0, &flat)?;
        let mut dims = ids.dims().to_vec();
        dims.push(w.dims()[1]);
        rows.reshape(dims)
    }
}
