//! Elementwise functions of one strided input and dtype casts (`shaders/unary.wgsl`).

use wgrad_graph::{Buffer, DType, Error, Input, Meta, Result, UnaryOp};

use crate::engine::{Bind, Dispatch, Grid, Recorder, Shader};
use crate::kernels::strided;

pub static SHADER: Shader = Shader {
    name: "unary",
    source: include_str!("../../../../shaders/unary.wgsl"),
};

pub const WG: u32 = 256;

/// The entry point of a unary op: its name, with a trailing `_` where that name is a WGSL builtin.
pub fn entry(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "neg",
        UnaryOp::Exp => "exp_",
        UnaryOp::Log => "log_",
        UnaryOp::Sqrt => "sqrt_",
        UnaryOp::Rsqrt => "rsqrt",
        UnaryOp::Recip => "recip",
        UnaryOp::Abs => "abs_",
        UnaryOp::Sign => "sign_",
        UnaryOp::Sin => "sin_",
        UnaryOp::Cos => "cos_",
        UnaryOp::Tanh => "tanh_",
        UnaryOp::Sigmoid => "sigmoid",
        UnaryOp::Relu => "relu",
    }
}

const CASTS: [&str; 10] = [
    "cast_from_f32",
    "cast_from_f16",
    "cast_from_bf16",
    "cast_from_i32",
    "cast_from_u32",
    "cast_from_f32_to_bool",
    "cast_from_f16_to_bool",
    "cast_from_bf16_to_bool",
    "cast_from_i32_to_bool",
    "cast_from_u32_to_bool",
];

pub fn variants() -> Vec<(&'static str, DType, Vec<(&'static str, f64)>)> {
    let mut v = Vec::new();
    for dtype in [DType::F32, DType::F16, DType::I32, DType::U32] {
        for op in UnaryOp::ALL {
            v.push((entry(op), dtype, vec![("WG", WG as f64)]));
        }
        for c in CASTS {
            v.push((c, dtype, vec![("WG", WG as f64)]));
        }
    }
    // f64: the ops exact in f64 (see `kernels::refuse_f64`)
    for op in [UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Sign, UnaryOp::Relu] {
        v.push((entry(op), DType::F64, vec![("WG", WG as f64)]));
    }
    v
}

fn launch(
    rec: &mut Recorder,
    entry: &'static str,
    dtype: DType,
    x: Input,
    out: &Meta,
) -> Result<Buffer> {
    let buffer = rec.output(out)?;
    let params = strided::params(entry, &[x.layout], [0, 0])?;
    rec.dispatch(Dispatch {
        shader: &SHADER,
        entry,
        dtype,
        overrides: &[("WG", WG as f64)],
        bindings: &Bind::io(&[x.buffer], &buffer),
        params: &params,
        grid: Grid::Linear(strided::groups(entry, out.numel(), WG)?),
    })?;
    Ok(buffer)
}

pub fn unary(rec: &mut Recorder, op: UnaryOp, x: Input, out: &Meta) -> Result<Buffer> {
    launch(rec, entry(op), x.dtype, x, out)
}

pub fn cast(rec: &mut Recorder, x: Input, out: &Meta) -> Result<Buffer> {
    let to_bool = out.dtype == DType::Bool;
    let entry = match (x.dtype, to_bool) {
        (DType::F32, false) => CASTS[0],
        (DType::F16, false) => CASTS[1],
        (DType::BF16, false) => CASTS[2],
        (DType::I32, false) => CASTS[3],
        (DType::U32 | DType::Bool, false) => CASTS[4],
        (DType::F32, true) => CASTS[5],
        (DType::F16, true) => CASTS[6],
        (DType::BF16, true) => CASTS[7],
        (DType::I32, true) => CASTS[8],
        (DType::U32 | DType::Bool, true) => CASTS[9],
        (DType::F64, _) => {
            return Err(Error::Unsupported {
                backend: "wgpu",
                op: "cast",
                msg: "cast from f64 is not implemented on wgpu".to_string(),
            })
        }
    };
    launch(rec, entry, out.dtype, x, out)
}
