//! Every tolerance the test suites use, in one place.
//!
//! Forward values of one op compare within `atol + rtol·|expected|`; gradients pass through several ops
//! and get more room. Starting points are tinygrad's (`helper_test_op`) and torch's gradcheck defaults.

use wgrad::DType;

#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub atol: f64,
    pub rtol: f64,
}

/// Backend-vs-reference forward tolerance per dtype.
pub fn forward(dtype: DType) -> Tol {
    match dtype {
        DType::F64 => Tol {
            atol: 1e-12,
            rtol: 1e-10,
        },
        DType::F32 => Tol {
            atol: 1e-5,
            rtol: 1e-3,
        },
        DType::F16 => Tol {
            atol: 1e-2,
            rtol: 1e-2,
        },
        DType::BF16 => Tol {
            atol: 5e-2,
            rtol: 5e-2,
        },
        DType::I32 | DType::U32 | DType::Bool => EXACT,
    }
}

/// Backend-vs-reference gradient tolerance per dtype.
pub fn gradient(dtype: DType) -> Tol {
    match dtype {
        DType::F64 => Tol {
            atol: 1e-10,
            rtol: 1e-8,
        },
        DType::F32 => Tol {
            atol: 1e-4,
            rtol: 1e-3,
        },
        DType::F16 => Tol {
            atol: 5e-2,
            rtol: 5e-2,
        },
        DType::BF16 => Tol {
            atol: 1e-1,
            rtol: 1e-1,
        },
        DType::I32 | DType::U32 | DType::Bool => EXACT,
    }
}

/// Bit-for-bit equality (as f64): integers, and the Philox uniform and Bernoulli streams.
pub const EXACT: Tol = Tol {
    atol: 0.0,
    rtol: 0.0,
};

/// Central-difference gradient check in f64 (torch's defaults for double).
pub const GRADCHECK_EPS: f64 = 1e-6;
pub const GRADCHECK: Tol = Tol {
    atol: 1e-5,
    rtol: 1e-3,
};

/// CPU vs wgpu after a few full training steps (forward, backward, update) of a small model in f32: rounding
/// differences pass through every layer and the optimizer, and they compound from step to step.
pub const TRAINING: Tol = Tol {
    atol: 1e-4,
    rtol: 1e-3,
};

/// Philox normal samples, CPU (f64 Box-Muller, rounded) vs wgpu (f32 Box-Muller): the uniforms are
/// bit-equal, the f32 `log`/`cos` differ by a few ulps.
pub const NORMAL_SAMPLES: Tol = Tol {
    atol: 1e-5,
    rtol: 1e-5,
};
