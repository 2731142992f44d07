//! Strided copy, pad, cat and fill (`shaders/movement.wgsl`).

use wgrad_graph::{Buffer, DType, Error, Input, Meta, Result};

use super::word;
use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{Entry, Family, Launch, ALL_TYPED, FLOATS_INTS, WG256};
use crate::kernels::strided::{self, MAX_RANK};

pub static FAMILY: Family = Family {
    shader: Shader {
        name: "movement",
        source: include_str!("../../shaders/movement.wgsl"),
    },
    entries: &[
        Entry {
            name: "copy",
            dtypes: ALL_TYPED,
            overrides: WG256,
        },
        Entry {
            name: "pad",
            dtypes: ALL_TYPED,
            overrides: WG256,
        },
        Entry {
            name: "pad_int",
            dtypes: FLOATS_INTS,
            overrides: WG256,
        },
        Entry {
            name: "cat",
            dtypes: ALL_TYPED,
            overrides: WG256,
        },
        Entry {
            name: "full",
            dtypes: FLOATS_INTS,
            overrides: WG256,
        },
        Entry {
            name: "full_int",
            dtypes: FLOATS_INTS,
            overrides: WG256,
        },
        Entry {
            name: "full_f64",
            dtypes: &[DType::F64],
            overrides: WG256,
        },
    ],
    features: wgpu::Features::empty(),
    checked: false,
};

/// The fill value as one 32-bit word: f32 bits for floats, integer bits otherwise; and whether it is an int.
pub fn value_word(value: f64, dtype: DType) -> (u32, bool) {
    match dtype {
        DType::I32 => (dtype.round(value) as i32 as u32, true),
        DType::U32 => (dtype.round(value) as u32, true),
        DType::Bool => (u32::from(value != 0.0), true),
        _ => ((value as f32).to_bits(), false),
    }
}

/// One launch of `entry` with an invocation per element of `numel` (bool stores as u32).
fn run(
    rec: &mut Recorder,
    (op, entry): (&'static str, &'static str),
    dtype: DType,
    [inputs, output]: [&[&Buffer]; 2],
    params: &[u32],
    numel: usize,
) -> Result<()> {
    let dtype = if dtype == DType::Bool {
        DType::U32
    } else {
        dtype
    };
    let wg = FAMILY.workgroup_size(entry)?;
    FAMILY.launch(
        rec,
        Launch {
            op,
            entry,
            dtype,
            bindings: &Bind::io(inputs, output[0]),
            params,
            grid: Grid::Linear(strided::groups(op, numel, wg)?),
        },
    )
}

pub fn copy(rec: &mut Recorder, x: Input, out: &Meta) -> Result<Buffer> {
    let buffer = rec.output(out)?;
    let params = strided::params("copy", &[x.layout], [0, 0])?;
    let io: [&[&Buffer]; 2] = [&[x.buffer], &[&buffer]];
    run(rec, ("copy", "copy"), x.dtype, io, &params, out.numel())?;
    Ok(buffer)
}

/// `value` as three f32 whose f64 sum is exactly `value` (24 + 24 + 24 bits cover f64's 53), or an error
/// for values outside that encoding (beyond f32's range, or so small that the parts would be subnormal).
pub fn f64_words(op: &'static str, value: f64) -> Result<[u32; 3]> {
    let a = value as f32;
    let b = (value - a as f64) as f32;
    let c = (value - a as f64 - b as f64) as f32;
    if a as f64 + b as f64 + c as f64 != value && !value.is_nan() {
        return Err(Error::Unsupported {
            backend: "wgpu",
            op,
            msg: format!(
                "the f64 value {value:e} is outside what the f64 fill encodes (three f32)"
            ),
        });
    }
    Ok([a.to_bits(), b.to_bits(), c.to_bits()])
}

pub fn full(rec: &mut Recorder, value: f64, out: &Meta) -> Result<Buffer> {
    let buffer = rec.output(out)?;
    let (value_bits, int) = value_word(value, out.dtype);
    let mut params = vec![0u32; strided::PARAM_WORDS];
    params[0] = word("full", "size", out.numel())?;
    params[2] = value_bits;
    let entry = match (int, out.dtype) {
        (true, _) => "full_int",
        (false, DType::F64) => {
            // Params words 2, 3, 4 (s0, s1, shape[0].x) hold the three parts
            params[2..5].copy_from_slice(&f64_words("full", value)?);
            "full_f64"
        }
        (false, _) => "full",
    };
    let io: [&[&Buffer]; 2] = [&[], &[&buffer]];
    run(rec, ("full", entry), out.dtype, io, &params, out.numel())?;
    Ok(buffer)
}

pub fn pad(
    rec: &mut Recorder,
    before: &[usize],
    value: f64,
    x: Input,
    out: &Meta,
) -> Result<Buffer> {
    let rank = out.shape.rank();
    if rank > MAX_RANK {
        return Err(Error::LimitExceeded {
            op: "pad",
            what: "rank".to_string(),
            value: rank as u64,
            limit_name: "wgrad MAX_RANK",
            limit: MAX_RANK as u64,
        });
    }
    if out.dtype == DType::F64 && (value as f32) as f64 != value && !value.is_nan() {
        return Err(Error::Unsupported {
            backend: "wgpu",
            op: "pad",
            msg: format!("an f64 pad value must be exact in f32 (0, ±inf, ...), got {value:e}"),
        });
    }
    let buffer = rec.output(out)?;
    let (value_bits, int) = value_word(value, out.dtype);
    // PadParams: 4 scalars, then out_shape, in_shape, before (8 words each).
    let mut p = vec![0u32; 4 + 3 * 8];
    p[0] = word("pad", "size", out.numel())?;
    p[1] = rank as u32;
    p[2] = value_bits;
    p[3] = word("pad", "size", x.layout.offset)?;
    for d in 0..rank {
        p[4 + d] = word("pad", "size", out.shape.0[d])?;
        p[12 + d] = word("pad", "size", x.shape().0[d])?;
        p[20 + d] = word("pad", "size", before[d])?;
    }
    let entry = if int { "pad_int" } else { "pad" };
    let io: [&[&Buffer]; 2] = [&[x.buffer], &[&buffer]];
    run(rec, ("pad", entry), out.dtype, io, &p, out.numel())?;
    Ok(buffer)
}

pub fn cat(rec: &mut Recorder, axis: usize, xs: &[Input], out: &Meta) -> Result<Buffer> {
    let buffer = rec.output(out)?;
    let dims = &out.shape.0;
    let inner: usize = dims[axis + 1..].iter().product();
    let mut start = 0;
    for x in xs {
        let axis_in = x.shape().0[axis];
        let p = [
            word("cat", "size", x.layout.numel())?,
            word("cat", "size", inner.max(1))?,
            word("cat", "size", axis_in.max(1))?,
            word("cat", "size", dims[axis])?,
            word("cat", "size", start)?,
            word("cat", "size", x.layout.offset)?,
            0,
            0,
        ];
        let io: [&[&Buffer]; 2] = [&[x.buffer], &[&buffer]];
        run(rec, ("cat", "cat"), out.dtype, io, &p, x.layout.numel())?;
        start += axis_in;
    }
    Ok(buffer)
}
