//! Positional information for attention, which by itself ignores order: the sinusoidal encoding of
//! "Attention is all you need" (fixed) and a learned one (an embedding of positions).

use wgrad_graph::{DType, Device, Error, Result, Tensor};

use crate::embedding::{Embedding, EmbeddingConfig};
use crate::module::Forward;
use crate::Module;

/// The `[max_len, d_model]` table `PE(pos, 2i) = sin(pos / 10000^(2i/d))`, `PE(pos, 2i+1) = cos(pos /
/// 10000^(2i/d))` (Vaswani et al. 2017, section 3.5), computed in f64 and rounded to `dtype`.
///
/// # Errors
/// `Error::Argument` for `d_model = 0`.
pub fn sinusoidal_table(
    max_len: usize,
    d_model: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    if d_model == 0 {
        return Err(Error::argument(
            "sinusoidal_table",
            "d_model must be positive",
        ));
    }
    let mut values = Vec::with_capacity(max_len * d_model);
    for pos in 0..max_len {
        for c in 0..d_model {
            let angle = pos as f64 / 10000f64.powf((c - c % 2) as f64 / d_model as f64);
            values.push(if c % 2 == 0 { angle.sin() } else { angle.cos() });
        }
    }
    Tensor::from_f64(&values, [max_len, d_model], dtype, device)
}

/// Checks `x`'s sequence axis against the table and returns its length.
fn seq_len(op: &'static str, x: &Tensor, batch_first: bool, table: &[usize]) -> Result<usize> {
    let axis = match (x.rank(), batch_first) {
        (2, _) => 0,
        (3, true) => 1,
        (3, false) => 0,
        _ => {
            return Err(Error::shape(
                op,
                format!("needs [N, T, d] or [T, N, d] or [T, d], got {}", x.shape()),
            ))
        }
    };
    let t = x.dims()[axis];
    if t > table[0] || x.dims()[x.rank() - 1] != table[1] {
        return Err(Error::shape(
            op,
            format!(
                "input {} does not fit the table [{}, {}] (max_len, d_model)",
                x.shape(),
                table[0],
                table[1]
            ),
        ));
    }
    Ok(t)
}

/// `table[:T]` shaped to add to `x`.
fn aligned(table: &Tensor, t: usize, x: &Tensor, batch_first: bool) -> Result<Tensor> {
    let rows = table.narrow(0, 0, t)?;
    match (x.rank(), batch_first) {
        (3, false) => rows.unsqueeze(1),
        _ => Ok(rows),
    }
}

/// Adds the fixed sinusoidal encoding: `x + PE[:T]`. No parameters, nothing in the state dict.
///
/// # Shapes
/// input `[N, T, d]` (`batch_first`), `[T, N, d]`, or `[T, d]`, with `T ≤ max_len`; output the same
#[derive(Clone, Debug, Module)]
pub struct SinusoidalPositionalEncoding {
    #[module(skip)]
    table: Tensor,
    #[module(skip)]
    batch_first: bool,
}

impl SinusoidalPositionalEncoding {
    /// A table for sequences up to `max_len` of `d_model` features.
    ///
    /// # Errors
    /// As [`sinusoidal_table`].
    pub fn new(
        max_len: usize,
        d_model: usize,
        batch_first: bool,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let table = sinusoidal_table(max_len, d_model, dtype, device)?;
        Ok(SinusoidalPositionalEncoding { table, batch_first })
    }

    /// The `[max_len, d_model]` table.
    pub fn table(&self) -> &Tensor {
        &self.table
    }
}

impl Forward for SinusoidalPositionalEncoding {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let t = seq_len(
            "sinusoidal_positional_encoding",
            x,
            self.batch_first,
            self.table.dims(),
        )?;
        x.add(&aligned(&self.table, t, x, self.batch_first)?)
    }
}

/// Adds a learned embedding of the positions `0..T`: `x + E[:T]`, `E` an [`Embedding`] of `max_len` rows
/// (its parameter is `embedding.weight`, drawn from `N(0, 1)` as PyTorch's `nn.Embedding`). Reading the
/// first T rows is a slice of the table, the same as looking up the positions `0..T`.
///
/// # Shapes
/// input `[N, T, d]` (`batch_first`), `[T, N, d]`, or `[T, d]`, with `T ≤ max_len`; output the same
#[derive(Clone, Debug, Module)]
pub struct LearnedPositionalEmbedding {
    pub embedding: Embedding,
    #[module(skip)]
    batch_first: bool,
}

impl LearnedPositionalEmbedding {
    /// # Errors
    /// What creating the table raises.
    pub fn new(
        max_len: usize,
        d_model: usize,
        batch_first: bool,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let embedding = EmbeddingConfig::new(max_len, d_model)
            .with_dtype(dtype)
            .init(device)?;
        Ok(LearnedPositionalEmbedding {
            embedding,
            batch_first,
        })
    }
}

impl Forward for LearnedPositionalEmbedding {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let table = self.embedding.weight.tensor();
        let t = seq_len(
            "learned_positional_embedding",
            x,
            self.batch_first,
            table.dims(),
        )?;
        x.add(&aligned(&table, t, x, self.batch_first)?)
    }
}
