//! Kernel families: one descriptor per WGSL file in `shaders/`, from which the naga test's variants and every
//! launch are derived.
//!
//! A [`Family`] lists its entry points and, for each, the dtypes it runs in and its `override` constants
//! (workgroup size, tiles). [`Family::launch`] is the one way a kernel module records a dispatch of a family
//! file: it looks the entry up and refuses a dtype the entry does not list with [`refuse`], the one place
//! that says why (f64 above all: most kernels compute in f32, and silently returning f32 precision for an
//! f64 tensor would be wrong). The naga test validates exactly [`Family::variants`].

use wgrad_graph::{DType, Error, Result};

use crate::dispatch::{Bind, Dispatch, Grid, Shader};
use crate::engine::Recorder;

/// An entry point and what it runs in.
#[derive(Debug)]
pub struct Entry {
    pub name: &'static str,
    /// The dtypes the entry is validated and launched in (`T` of the file's `alias T = f32;`).
    pub dtypes: &'static [DType],
    /// WGSL `override` constants, the same for every launch.
    pub overrides: &'static [(&'static str, f64)],
}

/// `&[Entry]` of the named entry points, all with the same dtypes and overrides.
macro_rules! entries {
    ($dtypes:expr, $overrides:expr; $($name:literal)*) => {
        &[$($crate::family::Entry { name: $name, dtypes: $dtypes, overrides: $overrides },)*]
    };
}
pub(crate) use entries;

/// One WGSL file and its entry points.
#[derive(Debug)]
pub struct Family {
    pub shader: Shader,
    pub entries: &'static [Entry],
    /// The optional device features the file needs (`SUBGROUP`, `EXPERIMENTAL_COOPERATIVE_MATRIX`):
    /// validated with the matching naga capabilities, compiled only where the device has them.
    pub features: wgpu::Features,
    /// Binds the engine's device error flag after the params (kernels that detect bad indices, see
    /// [`crate::engine`]).
    pub checked: bool,
}

/// Floats with WGSL types, and the integers.
pub const FLOATS_INTS: &[DType] = &[DType::F32, DType::F16, DType::I32, DType::U32];
/// [`FLOATS_INTS`] and f64: kernels that compute exactly in any dtype (data movement, sums, comparisons).
pub const ALL_TYPED: &[DType] = &[DType::F32, DType::F16, DType::I32, DType::U32, DType::F64];
/// f32 and f16: kernels that accumulate or evaluate in f32.
pub const FLOATS: &[DType] = &[DType::F32, DType::F16];

/// `WG = 256`, the workgroup size of most one-invocation-per-element kernels.
pub const WG256: &[(&str, f64)] = &[("WG", 256.0)];
/// `WG = 64`: kernels with a workgroup-wide reduction or per-row work.
pub const WG64: &[(&str, f64)] = &[("WG", 64.0)];

/// One launch of an entry of a family.
#[derive(Debug)]
pub struct Launch<'a> {
    /// The op, as errors name it.
    pub op: &'static str,
    pub entry: &'static str,
    pub dtype: DType,
    pub bindings: &'a [Bind<'a>],
    pub params: &'a [u32],
    pub grid: Grid,
}

impl Family {
    /// Every (entry, dtype, overrides) this family runs, for the naga test.
    pub fn variants(&self) -> Vec<(&'static str, DType, &'static [(&'static str, f64)])> {
        self.entries
            .iter()
            .flat_map(|e| e.dtypes.iter().map(move |&d| (e.name, d, e.overrides)))
            .collect()
    }

    /// The entry named `name`.
    pub fn entry(&self, name: &str) -> Result<&Entry> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| Error::Backend {
                backend: "wgpu",
                msg: format!("{}.wgsl has no entry point {name}", self.shader.name),
            })
    }

    /// The workgroup size of `entry` (its `WG` override), for grids of one invocation per element.
    pub fn workgroup_size(&self, entry: &str) -> Result<u32> {
        let e = self.entry(entry)?;
        let wg = e
            .overrides
            .iter()
            .find(|(k, _)| *k == "WG")
            .map(|(_, v)| *v);
        wg.map(|v| v as u32).ok_or_else(|| Error::Backend {
            backend: "wgpu",
            msg: format!("{}/{entry} has no WG override", self.shader.name),
        })
    }

    /// Records one launch; refuses a dtype the entry does not run in.
    pub fn launch(&'static self, rec: &mut Recorder, l: Launch<'_>) -> Result<()> {
        let entry = self.entry(l.entry)?;
        if !entry.dtypes.contains(&l.dtype) {
            return Err(refuse(l.op, l.dtype));
        }
        let d = Dispatch {
            shader: &self.shader,
            entry: entry.name,
            dtype: l.dtype,
            overrides: entry.overrides,
            bindings: l.bindings,
            params: l.params,
            grid: l.grid,
        };
        if self.checked {
            rec.dispatch_checked(d)
        } else {
            rec.dispatch(d)
        }
    }
}

/// The error for an op a wgpu kernel does not compute in `dtype`.
///
/// On adapters with `SHADER_F64` the kernels WGSL evaluates exactly in f64 run in f64: arithmetic,
/// comparisons, `where`, neg/abs/sign/relu, the reductions, gather and scatter_add, data movement and fills.
/// The others refuse it with this error instead of returning f32-precision numbers: WGSL has no f64 exp, log,
/// sin or pow, the matmul, convolution, pooling and softmax kernels accumulate in f32, and the casts and
/// random kernels go through f32 words.
pub fn refuse(op: &'static str, dtype: DType) -> Error {
    let msg = if dtype == DType::F64 {
        format!(
            "f64 {op} is not available on wgpu: the kernel would compute in f32 (f64 covers arithmetic, \
             comparisons, where, neg/abs/sign/relu, reductions, gather/scatter_add and data movement); \
             cast to f32 or use the CPU backend"
        )
    } else {
        format!("{dtype} {op} is not available on wgpu: its kernels do not run in {dtype}")
    };
    Error::Unsupported {
        backend: "wgpu",
        op,
        msg,
    }
}
