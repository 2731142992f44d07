//! The `Tensor` op API, by family. Each method validates its arguments, then records primitives.

mod conv_transpose;
mod elementwise;
pub(crate) mod layers;
mod movement;
mod reduce;

pub use conv_transpose::ConvTranspose2dParams;
pub use elementwise::TensorOrScalar;
pub use movement::{Infer, IntoDims};
