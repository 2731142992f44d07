//! Stub until helper "wgpu-heavy" writes this family (see ENGINE_API.md).

#[allow(unused_imports)]
use wgrad_graph::{Buffer, Conv2dParams, Input, Meta, Pool2dParams};
use wgrad_graph::{DType, Error, Result};

use crate::engine::{Recorder, Shader};

pub static SHADER: Shader = Shader {
    name: "matmul",
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

pub fn matmul(_rec: &mut Recorder, _lhs: Input, _rhs: Input, _out: &Meta) -> Result<Buffer> {
    Err(todo("matmul"))
}
