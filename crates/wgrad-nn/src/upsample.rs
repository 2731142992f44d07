//! Nearest-neighbour upsampling by integer factors (PyTorch's `nn.Upsample(scale_factor=k, mode='nearest')`).

use serde::{Deserialize, Serialize};
use wgrad_graph::{Error, Result, Tensor};

use crate::module::{Forward, Module};
use crate::param::Param;

/// How [`Upsample`] fills the new elements. Only `nearest` so far (each output element copies the input
/// element it falls in); PyTorch's `bilinear` and friends are not built yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsampleMode {
    #[default]
    Nearest,
}

/// Upsampling of the spatial dims (all dims after `[n, c]`) by integer factors.
///
/// With integer factors PyTorch's `nearest` takes input element `⌊o/k⌋` for output element `o`, so every
/// input element is repeated `k` times along its axis: a reshape to `[n, c, h, 1, w, 1]`, a broadcast to
/// `[n, c, h, k_h, w, k_w]` and a reshape to `[n, c, h·k_h, w·k_w]`. Its gradient (the broadcast's) sums
/// each `k_h × k_w` block, as PyTorch's does.
///
/// # Shapes
/// - input `[n, c, h, w]` (or `[n, c, l]`, `[n, c, d, h, w]`: one factor per spatial dim)
/// - output `[n, c, h·k_h, w·k_w]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upsample {
    /// One factor per spatial dim, or one for all of them.
    pub scale_factor: Vec<usize>,
    pub mode: UpsampleMode,
}

impl Upsample {
    /// Nearest upsampling by `k` along every spatial dim (`nn.Upsample(scale_factor=k)`).
    pub fn nearest(k: usize) -> Upsample {
        Upsample {
            scale_factor: vec![k],
            mode: UpsampleMode::Nearest,
        }
    }
}

/// No parameters and no training behaviour.
impl Module for Upsample {
    fn visit_params(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Param)) {}
    fn set_training(&mut self, _training: bool) {}
}

impl Forward for Upsample {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.mode {
            UpsampleMode::Nearest => upsample_nearest(x, &self.scale_factor),
        }
    }
}

/// Nearest upsampling of `[n, c, *spatial]` by integer `scale` factors, one per spatial dim or one for all
/// (PyTorch's `F.interpolate(x, scale_factor=k, mode='nearest')` for integer `k`).
///
/// # Shapes
/// - input `[n, c, s_1, …, s_d]`, output `[n, c, s_1·k_1, …, s_d·k_d]`
///
/// # Errors
/// `Error::Shape` when `x` has fewer than 3 dims; `Error::Argument` when a factor is 0 or their count is
/// neither 1 nor the number of spatial dims.
pub fn upsample_nearest(x: &Tensor, scale: &[usize]) -> Result<Tensor> {
    if x.rank() < 3 {
        return Err(Error::shape(
            "upsample_nearest",
            format!("needs [n, c, *spatial] input, got {}", x.shape()),
        ));
    }
    let spatial = x.rank() - 2;
    if scale.contains(&0) || (scale.len() != 1 && scale.len() != spatial) {
        return Err(Error::argument(
            "upsample_nearest",
            format!(
                "scale factors {scale:?} must be positive, one or one per spatial dim of {}",
                x.shape()
            ),
        ));
    }
    let factor = |i: usize| if scale.len() == 1 { scale[0] } else { scale[i] };
    let (mut split, mut wide, mut out) = (
        x.dims()[..2].to_vec(),
        x.dims()[..2].to_vec(),
        x.dims()[..2].to_vec(),
    );
    for (i, &s) in x.dims()[2..].iter().enumerate() {
        split.extend([s, 1]);
        wide.extend([s, factor(i)]);
        out.push(s * factor(i));
    }
    x.reshape(split)?.expand(wide)?.reshape(out)
}
