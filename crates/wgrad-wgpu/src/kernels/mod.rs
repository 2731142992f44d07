//! Kernel modules: one per WGSL family file in `shaders/` (each with its [`crate::family::Family`]
//! descriptor and the functions [`router::GpuKernels`] calls), plus the generated elementwise kernels.

pub mod cast;
pub mod conv2d;
pub mod conv2d_tex;
pub mod conv_geometry;
pub mod elementwise;
pub mod index;
pub mod matmul;
pub mod matmul_tex;
pub mod movement;
pub mod pool;
pub mod random;
pub mod reduce;
pub mod router;
pub mod softmax;
pub mod strided;

pub use crate::dispatch::{word, words};

use crate::family::Family;

/// Every family descriptor, for the naga test (the generated elementwise kernels are listed by
/// [`elementwise::variants`]).
pub fn families() -> [&'static Family; 13] {
    [
        &cast::FAMILY,
        &movement::FAMILY,
        &reduce::FAMILY,
        &index::FAMILY,
        &random::FAMILY,
        &matmul::FAMILY,
        &matmul::FAMILY_SG,
        &matmul_tex::PACK,
        &matmul_tex::FAMILY,
        &conv2d::FAMILY,
        &conv2d_tex::FAMILY,
        &pool::FAMILY,
        &softmax::FAMILY,
    ]
}
