//! Kernel families: one module per WGSL file in `shaders/`, each with `SHADER`, `variants()` (what the
//! naga test validates) and the free functions the backend's `Kernels` impl calls.

pub mod conv2d;
pub mod matmul;
pub mod pool;
pub mod softmax;
