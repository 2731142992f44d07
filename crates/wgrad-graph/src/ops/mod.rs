//! The `Tensor` op API, by family. Each method validates its arguments, then records primitives.

pub(crate) mod attention;
mod conv_transpose;
mod elementwise;
pub(crate) mod layers;
mod movement;
mod reduce;

pub use attention::{
    attention_weights, fused_attention, scaled_dot_product_attention,
    scaled_dot_product_attention_with, AttentionPath, SdpaOptions,
};
pub use conv_transpose::ConvTranspose2dParams;
pub use elementwise::TensorOrScalar;
pub use movement::{Infer, IntoDims};
