//! Stub until helper "wgpu-heavy" writes this family (see ENGINE_API.md).

#[allow(unused_imports)]
use wgrad_graph::{Buffer, Conv2dParams, Input, Meta, Pool2dParams};
use wgrad_graph::{DType, Error, Result};

use crate::engine::{Recorder, Shader};

pub static SHADER: Shader = Shader {
    name: "conv2d",
    source: "",
};

pub fn variants() -> Vec<(&'static str, DType, Vec<(&'static str, f64)>)> {
    vec![]
}

fn todo(op: &'static str) -> Error {
    Error::Unsupported {
        backend: "wgpu",
        op,
        msg: "kernel not written yet".to_string(),
    }
}

pub fn conv2d(
    _rec: &mut Recorder,
    _p: &Conv2dParams,
    _x: Input,
    _w: Input,
    _out: &Meta,
) -> Result<Buffer> {
    Err(todo("conv2d"))
}
pub fn conv2d_backward_input(
    _rec: &mut Recorder,
    _p: &Conv2dParams,
    _dy: Input,
    _w: Input,
    _out: &Meta,
) -> Result<Buffer> {
    Err(todo("conv2d_backward_input"))
}
pub fn conv2d_backward_weight(
    _rec: &mut Recorder,
    _p: &Conv2dParams,
    _x: Input,
    _dy: Input,
    _out: &Meta,
) -> Result<Buffer> {
    Err(todo("conv2d_backward_weight"))
}
