//! The `Tensor` op API, by family. Each method validates its arguments, then records primitives.

mod elementwise;
mod layers;
mod movement;
mod reduce;

pub use elementwise::TensorOrScalar;
pub use movement::{Infer, IntoDims};
