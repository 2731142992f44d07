//! Dtype conversions of one strided input (`shaders/cast.wgsl`).

use wgrad_graph::{Buffer, DType, Input, Meta, Result};

use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, refuse, Family, Launch, FLOATS_INTS, WG256};
use crate::kernels::strided;

/// Entry `cast_from_<input>[_to_bool]` per input dtype, in every output dtype (bool stores as u32).
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "cast",
        source: include_str!("../../shaders/cast.wgsl"),
    },
    entries: entries!(FLOATS_INTS, WG256;
        "cast_from_f32" "cast_from_f16" "cast_from_bf16" "cast_from_i32" "cast_from_u32"
        "cast_from_f32_to_bool" "cast_from_f16_to_bool" "cast_from_bf16_to_bool"
        "cast_from_i32_to_bool" "cast_from_u32_to_bool"
    ),
    features: wgpu::Features::empty(),
    checked: false,
};

/// The entry converting from `from` (to `T`, or to bool when `to_bool`); `None` for f64 inputs.
fn entry(from: DType, to_bool: bool) -> Option<&'static str> {
    Some(match (from, to_bool) {
        (DType::F32, false) => "cast_from_f32",
        (DType::F16, false) => "cast_from_f16",
        (DType::BF16, false) => "cast_from_bf16",
        (DType::I32, false) => "cast_from_i32",
        (DType::U32 | DType::Bool, false) => "cast_from_u32",
        (DType::F32, true) => "cast_from_f32_to_bool",
        (DType::F16, true) => "cast_from_f16_to_bool",
        (DType::BF16, true) => "cast_from_bf16_to_bool",
        (DType::I32, true) => "cast_from_i32_to_bool",
        (DType::U32 | DType::Bool, true) => "cast_from_u32_to_bool",
        (DType::F64, _) => return None,
    })
}

/// `x` converted to `out.dtype` (float → int truncates toward zero; → bool is `x != 0`).
pub fn cast(rec: &mut Recorder, x: Input, out: &Meta) -> Result<Buffer> {
    const OP: &str = "cast";
    let to_bool = out.dtype == DType::Bool;
    let entry = entry(x.dtype, to_bool).ok_or_else(|| refuse(OP, x.dtype))?;
    // bool results are stored as u32
    let dtype = if to_bool { DType::U32 } else { out.dtype };
    let buffer = rec.output(out)?;
    let params = strided::params(OP, &[x.layout], [0, 0])?;
    let wg = FAMILY.workgroup_size(entry)?;
    FAMILY.launch(
        rec,
        Launch {
            op: OP,
            entry,
            dtype,
            bindings: &Bind::io(&[x.buffer], &buffer),
            params: &params,
            grid: Grid::Linear(strided::groups(OP, out.numel(), wg)?),
        },
    )?;
    Ok(buffer)
}
