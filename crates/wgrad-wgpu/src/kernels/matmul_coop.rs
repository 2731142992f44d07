//! f16 matmul on the GPU's matrix units (`shaders/matmul_coop.wgsl`): tensor cores through Vulkan's
//! `VK_KHR_cooperative_matrix` (wgpu's `EXPERIMENTAL_COOPERATIVE_MATRIX`), simdgroup matrices on Metal.
//!
//! Taken by [`super::matmul::matmul_with`] for f16 products on hardware adapters that report a 16x16x16
//! configuration with f16 operands and an f32 accumulator and run 32-lane subgroups, when the shapes need no
//! edge handling ([`applies`]); every other f16 product stays on `matmul_tiled`. Software adapters have no
//! cooperative matrices, so on CI this kernel is validated by naga (with the `COOPERATIVE_MATRIX`
//! capability) and compiled to SPIR-V, not run: its first runs are on a GPU machine (`benches/device.sh`,
//! whose op-table trials compare it with the CPU like every kernel).

use wgrad_graph::{Buffer, DType, Input, Meta, Result};

use super::words;
use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{Entry, Family, Launch};

/// The cooperative-matrix kernel.
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "matmul_coop",
        source: include_str!("../../shaders/matmul_coop.wgsl"),
    },
    entries: &[Entry {
        name: "matmul_coop",
        dtypes: &[DType::F16],
        overrides: &[("WG", SUBGROUP as f64)],
    }],
    features: wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX.union(wgpu::Features::SHADER_F16),
    checked: false,
};

/// The subgroup width the kernel is written for: one subgroup per workgroup.
pub const SUBGROUP: u32 = 32;
/// Rows x columns of `out` one workgroup computes (2x2 tiles of 16x16).
const BLOCK: usize = 32;
/// The k step.
const TILE_K: usize = 16;
/// Offsets and strides must be multiples of this many f16 elements (16 bytes).
const ALIGN: usize = 8;

/// Whether the adapter runs the kernel: the feature granted with a 16x16x16 f16 x f16 -> f32 configuration
/// ([`crate::Caps::coop_f16`]) and fixed 32-lane subgroups.
pub fn supported(caps: &crate::Caps) -> bool {
    caps.coop_f16 && caps.subgroup_size == Some(SUBGROUP)
}

/// How one operand is read: its leading stride and whether rows are contiguous (row-major) or columns are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Major {
    lead: usize,
    row_major: bool,
}

/// The major order of a `[b, r, c]` operand whose offset, batch stride and leading stride are aligned.
fn major(l: &wgrad_graph::Layout) -> Option<Major> {
    let [s_b, s_r, s_c] = [l.strides[0], l.strides[1], l.strides[2]];
    let m = if s_c == 1 {
        Major {
            lead: s_r,
            row_major: true,
        }
    } else if s_r == 1 {
        Major {
            lead: s_c,
            row_major: false,
        }
    } else {
        return None;
    };
    let aligned = |v: usize| v.is_multiple_of(ALIGN);
    (aligned(l.offset) && aligned(s_b) && aligned(m.lead)).then_some(m)
}

/// Whether `lhs [b, m, k] x rhs [b, k, n]` (f16) takes this kernel: m and n multiples of 32, k of 16, both
/// operands row- or column-major with aligned offsets and strides.
pub fn applies(lhs: &Input, rhs: &Input) -> bool {
    let (l, r) = (&lhs.layout, &rhs.layout);
    let [m, k, n] = [l.shape.0[1], l.shape.0[2], r.shape.0[2]];
    lhs.dtype == DType::F16
        && rhs.dtype == DType::F16
        && m.is_multiple_of(BLOCK)
        && n.is_multiple_of(BLOCK)
        && k.is_multiple_of(TILE_K)
        && k > 0
        && major(l).is_some()
        && major(r).is_some()
}

/// Records the product into `output` (contiguous `[b, m, n]` f16); the caller checked [`supported`] and
/// [`applies`].
pub fn record(
    rec: &mut Recorder,
    lhs: &Input,
    rhs: &Input,
    out: &Meta,
    output: &Buffer,
) -> Result<()> {
    const OP: &str = "matmul";
    let (l, r) = (&lhs.layout, &rhs.layout);
    let [b, m, k] = [l.shape.0[0], l.shape.0[1], l.shape.0[2]];
    let n = r.shape.0[2];
    let (Some(lm), Some(rm)) = (major(l), major(r)) else {
        return Err(wgrad_graph::Error::argument(
            OP,
            "operands not aligned for matmul_coop",
        ));
    };
    let (tiles_m, tiles_n) = (m / BLOCK, n / BLOCK);
    let params = words(
        OP,
        &[
            b,
            m,
            n,
            k,
            l.offset,
            l.strides[0],
            lm.lead,
            usize::from(lm.row_major),
            r.offset,
            r.strides[0],
            rm.lead,
            usize::from(rm.row_major),
            tiles_m,
            tiles_n,
            0,
            0,
        ],
    )?;
    FAMILY.launch(
        rec,
        Launch {
            op: OP,
            entry: "matmul_coop",
            dtype: out.dtype,
            bindings: &Bind::io(&[lhs.buffer, rhs.buffer], output),
            params: &params,
            grid: Grid::Linear(super::word(OP, "workgroups", b * tiles_m * tiles_n)?),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wgrad_graph::{Layout, Shape};

    fn input<'a>(buffer: &'a Buffer, layout: &'a Layout) -> Input<'a> {
        Input {
            buffer,
            layout,
            dtype: DType::F16,
        }
    }

    #[test]
    fn only_aligned_tile_multiples_take_the_kernel() {
        let Some(gpu) = crate::testing::backend_or_skip() else {
            return;
        };
        let meta = Meta::new(vec![4096], DType::F16);
        let buf = gpu.engine().alloc("test", &meta).expect("a buffer");
        let c = |s: [usize; 3]| Layout::contiguous(Shape::new(s.to_vec()));
        let (a, w) = (c([2, 64, 48]), c([2, 48, 96]));
        assert!(applies(&input(&buf, &a), &input(&buf, &w)));
        // a transposed operand is column-major: fine
        let wt = c([2, 96, 48]).permute(&[0, 2, 1]);
        assert!(applies(&input(&buf, &a), &input(&buf, &wt)));
        // m not a multiple of 32, k not of 16, an offset of 1 element
        assert!(!applies(&input(&buf, &c([2, 40, 48])), &input(&buf, &w)));
        assert!(!applies(
            &input(&buf, &c([2, 64, 40])),
            &input(&buf, &c([2, 40, 96]))
        ));
        let mut shifted = a.clone();
        shifted.offset = 1;
        assert!(!applies(&input(&buf, &shifted), &input(&buf, &w)));
        // lavapipe has no cooperative matrices
        if gpu.caps().is_software {
            assert!(!supported(gpu.caps()));
        }
    }
}
