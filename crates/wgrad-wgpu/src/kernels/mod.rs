//! Kernel modules: one per WGSL family file in `shaders/` (each with its [`crate::family::Family`]
//! descriptor and the functions [`router::GpuKernels`] calls), plus the generated elementwise kernels.

pub mod attention;
pub mod cast;
pub mod conv2d;
pub mod conv2d_taps;
pub mod conv2d_tex;
pub mod conv_geometry;
pub mod elementwise;
pub mod index;
pub mod matmul;
pub mod matmul_coop;
pub mod matmul_tex;
pub mod movement;
pub mod pool;
pub mod random;
pub mod reduce;
pub mod router;
pub mod softmax;
pub mod strided;
pub mod tuned;

pub use crate::dispatch::{word, words};

/// Most loop iterations one invocation of a kernel may run, counting every loop.
///
/// llvmpipe (Mesa's software rasterizer, lavapipe's engine) ends an invocation's loops after 65,535
/// iterations in total, silently: a longer loop returns a partial result (measured: two loops of 40,000
/// iterations count 65,534; a product over k = 70,000 summed 65,533 terms). So no kernel may loop over an
/// unbounded range in one invocation: the host splits long ranges (k of a matmul, a long reduced axis, a
/// softmax row, the positions a weight gradient sums) into passes or chunks of at most this many
/// iterations, a quarter of the limit to leave room for index loops.
pub const LOOP_BUDGET: usize = 16384;

use crate::family::Family;

/// Every family descriptor, for the naga test (the generated elementwise kernels are listed by
/// [`elementwise::variants`]).
pub fn families() -> [&'static Family; 17] {
    [
        &attention::FAMILY,
        &cast::FAMILY,
        &movement::FAMILY,
        &reduce::FAMILY,
        &index::FAMILY,
        &random::FAMILY,
        &matmul::FAMILY,
        &matmul::FAMILY_SG,
        &matmul_coop::FAMILY,
        &matmul_tex::PACK,
        &matmul_tex::FAMILY,
        &conv2d::FAMILY,
        &conv2d_tex::FAMILY,
        &conv2d_taps::PACK,
        &conv2d_taps::FAMILY,
        &pool::FAMILY,
        &softmax::FAMILY,
    ]
}
