//! Batched matmul over strided operands (`shaders/matmul.wgsl`, `shaders/matmul_sg.wgsl`).
//!
//! `lhs [b, m, k] x rhs [b, k, n] -> out [b, m, n]`, operands read through their layouts (a transposed weight
//! or a broadcast batch costs no copy). Four kernels, one chosen per adapter by [`pick`]:
//! - `matmul_tex` (software adapters with 8-lane subgroups): `matmul_sg`'s tile reading both operands from
//!   textures, which llvmpipe gathers with SIMD (see [`super::matmul_tex`]); falls back to `matmul_sg` when
//!   the packed operands exceed `max_texture_dimension_2d`;
//! - `matmul_sg` (other software adapters with subgroups): each 8-lane subgroup computes a 32x32 block, lanes
//!   share lhs values through `subgroupBroadcast` because llvmpipe executes every storage load lane by lane;
//! - `matmul_rb` (other software adapters): a 4x4 register tile per invocation, no workgroup memory;
//! - `matmul_tiled` (hardware GPUs): 64x64 workgroup tiles staged through workgroup memory; f16 products
//!   of aligned tile multiples go to the GPU's matrix units instead where it has them
//!   ([`super::matmul_coop`]).
//!
//! `matmul_sg` sits in its own file: a module that mentions subgroup builtins fails to compile on a device
//! without `SUBGROUP`, and it must not take the portable entries down with it.

use wgrad_graph::{Buffer, Error, Input, Meta, Result};

use super::{word, words};
use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{Entry, Family, Launch, FLOATS};

/// The portable storage-buffer kernels.
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "matmul",
        source: include_str!("../../shaders/matmul.wgsl"),
    },
    entries: &[
        Entry {
            name: "matmul_rb",
            dtypes: FLOATS,
            overrides: &[("WG_X", RB_WG[0] as f64), ("WG_Y", RB_WG[1] as f64)],
        },
        Entry {
            name: "matmul_tiled",
            dtypes: FLOATS,
            overrides: &[],
        },
    ],
    features: wgpu::Features::empty(),
    checked: false,
};

/// The subgroup kernel (needs `wgpu::Features::SUBGROUP`): matmul.wgsl's declarations and helpers, then the
/// subgroup entry point.
pub static FAMILY_SG: Family = Family {
    shader: Shader {
        name: "matmul_sg",
        source: concat!(
            include_str!("../../shaders/matmul.wgsl"),
            include_str!("../../shaders/matmul_sg.wgsl")
        ),
    },
    entries: &[Entry {
        name: "matmul_sg",
        dtypes: FLOATS,
        overrides: &[],
    }],
    features: wgpu::Features::SUBGROUP,
    checked: false,
};

/// Workgroup size of `matmul_rb` (each invocation computes 4x4 outputs).
pub const RB_WG: [u32; 2] = [8, 8];

/// The four kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Operands packed into textures, 32x32 block per 8-lane subgroup (`matmul_tex`).
    Texture,
    /// 4x4 register tile per invocation, no workgroup memory (`matmul_rb`).
    RegisterBlocked,
    /// 32x32 block per 8-lane subgroup, lhs shared by subgroupBroadcast (`matmul_sg`).
    Subgroup,
    /// 64x64 workgroup tile staged through workgroup memory (`matmul_tiled`).
    Tiled,
}

impl Variant {
    pub const ALL: [Variant; 4] = [
        Variant::Texture,
        Variant::RegisterBlocked,
        Variant::Subgroup,
        Variant::Tiled,
    ];

    pub fn entry(self) -> &'static str {
        match self {
            Variant::Texture => "matmul_tex",
            Variant::RegisterBlocked => "matmul_rb",
            Variant::Subgroup => "matmul_sg",
            Variant::Tiled => "matmul_tiled",
        }
    }

    fn family(self) -> &'static Family {
        match self {
            Variant::Subgroup => &FAMILY_SG,
            Variant::Texture => &super::matmul_tex::FAMILY,
            _ => &FAMILY,
        }
    }

    /// The longest k range one dispatch covers: about one loop iteration per k step and invocation
    /// (`matmul_tiled` steps 16 at a time, with an inner loop of 16), within [`super::LOOP_BUDGET`].
    pub fn max_k(self) -> usize {
        super::LOOP_BUDGET
    }

    /// Rows x columns of `out` one workgroup computes.
    fn block(self) -> [u32; 2] {
        match self {
            Variant::RegisterBlocked => [4 * RB_WG[1], 4 * RB_WG[0]],
            Variant::Subgroup | Variant::Texture => [32, 32],
            Variant::Tiled => [64, 64],
        }
    }
}

/// Whether this adapter can run `variant` at all.
pub fn available(caps: &crate::Caps, variant: Variant) -> bool {
    match variant {
        Variant::Texture => super::matmul_tex::supported(caps),
        Variant::Subgroup => caps.subgroups,
        Variant::RegisterBlocked | Variant::Tiled => true,
    }
}

/// The kernel [`crate::Options::matmul`] forced, else the automatic choice: software adapters want no
/// workgroup memory (and, on llvmpipe, as few storage loads per FMA as possible: textures where the subgroup
/// tile fits); hardware GPUs want workgroup-memory tiling.
pub fn pick(caps: &crate::Caps) -> Variant {
    if let Some(v) = caps.matmul.filter(|&v| available(caps, v)) {
        return v;
    }
    match (caps.is_software, caps.subgroups) {
        (true, true) if available(caps, Variant::Texture) => Variant::Texture,
        (true, true) => Variant::Subgroup,
        (true, false) => Variant::RegisterBlocked,
        (false, _) => Variant::Tiled,
    }
}

/// [`pick`] for one product `[m, k] x [k, n]`: where the adapter takes `matmul_tex`, a product with m, n
/// or k of at most 16 takes `matmul_sg` instead, since packing both operands into textures costs more
/// than the product saves there (lavapipe, W2's 10-class layer and its gradients: 126-145 µs against
/// 177-211 µs; the autotuner's measurements, BENCHMARKS.md).
pub fn pick_for(caps: &crate::Caps, [m, n, k]: [usize; 3]) -> Variant {
    let v = pick(caps);
    let small = m.min(n).min(k) <= 16;
    if v == Variant::Texture && caps.matmul.is_none() && small && available(caps, Variant::Subgroup)
    {
        return Variant::Subgroup;
    }
    v
}

/// Errors unless `x` has rank `rank`.
pub(crate) fn expect_rank(op: &'static str, what: &str, x: &Input, rank: usize) -> Result<()> {
    if x.shape().rank() != rank {
        return Err(Error::shape(
            op,
            format!("{what} must have rank {rank}, got {}", x.shape()),
        ));
    }
    Ok(())
}

/// Batched matmul with the kernel [`pick_for`] chooses for this adapter and shape.
///
/// # Shapes
/// `lhs [b, m, k]`, `rhs [b, k, n]` (any strides) → `out [b, m, n]` contiguous.
pub fn matmul(rec: &mut Recorder, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer> {
    let (l, r) = (lhs.shape().dims(), rhs.shape().dims());
    let variant = pick_for(rec.caps(), [l[1], r[2], l[2]]);
    matmul_with(rec, variant, lhs, rhs, out)
}

/// Batched matmul with a given kernel (tests and benchmarks compare them).
pub fn matmul_with(
    rec: &mut Recorder,
    variant: Variant,
    lhs: Input,
    rhs: Input,
    out: &Meta,
) -> Result<Buffer> {
    const OP: &str = "matmul";
    expect_rank(OP, "lhs", &lhs, 3)?;
    expect_rank(OP, "rhs", &rhs, 3)?;
    let (l, r) = (&lhs.layout, &rhs.layout);
    let [b, m, k] = [l.shape.0[0], l.shape.0[1], l.shape.0[2]];
    let n = r.shape.0[2];
    if r.shape.0[0] != b || r.shape.0[1] != k || out.shape.0 != [b, m, n] {
        return Err(Error::shape(
            OP,
            format!(
                "lhs {}, rhs {}, out {} do not form [b, m, k] x [b, k, n] -> [b, m, n]",
                l.shape, r.shape, out.shape
            ),
        ));
    }
    if !available(rec.caps(), variant) {
        return Err(Error::Unsupported {
            backend: "wgpu",
            op: OP,
            msg: format!(
                "{} needs the SUBGROUP feature (matmul_tex: 8-lane subgroups and storage textures), which \
                 adapter {} lacks",
                variant.entry(),
                rec.caps().adapter_name
            ),
        });
    }
    let output = rec.output(out)?;
    if out.numel() == 0 {
        return Ok(output);
    }
    if variant == Variant::Texture {
        let gemm = super::matmul_tex::gemm(&lhs, &rhs);
        if gemm.fits(&rec.caps().limits) {
            super::matmul_tex::matmul_tex(rec, &gemm, [&lhs, &rhs], out, &output)?;
            return Ok(output);
        }
        // past the texture limits: matmul_sg into the same output
        return record_storage_kernel(rec, Variant::Subgroup, lhs, rhs, out, output);
    }
    if variant == Variant::Tiled
        && super::matmul_coop::supported(rec.caps())
        && super::matmul_coop::applies(&lhs, &rhs)
    {
        super::matmul_coop::record(rec, &lhs, &rhs, out, &output)?;
        return Ok(output);
    }
    record_storage_kernel(rec, variant, lhs, rhs, out, output)
}

/// Records one of the storage-buffer kernels (`matmul_rb`, `matmul_sg`, `matmul_tiled`) into `output`.
///
/// The k range is walked in chunks of at most [`Variant::max_k`], one dispatch each, the later ones adding
/// into `output` (the kernels' `accumulate` flag; dispatches of one pass see each other's writes). Why:
/// llvmpipe ends any invocation's loops after 65,535 iterations in total (see [`super::LOOP_BUDGET`]), and a
/// longer k loop would silently return a partial sum.
fn record_storage_kernel(
    rec: &mut Recorder,
    variant: Variant,
    lhs: Input,
    rhs: Input,
    out: &Meta,
    output: Buffer,
) -> Result<Buffer> {
    const OP: &str = "matmul";
    let (l, r) = (&lhs.layout, &rhs.layout);
    let [b, m, n] = [out.shape.0[0], out.shape.0[1], out.shape.0[2]];
    let k = l.shape.0[2];
    let [bm, bn] = variant.block();
    let (tiles_m, tiles_n) = (m.div_ceil(bm as usize), n.div_ceil(bn as usize));
    let groups = word(OP, "workgroups", b * tiles_m * tiles_n)?;
    let chunk = variant.max_k();
    // k = 0 still runs once: the kernels write zeros
    let chunks = k.div_ceil(chunk).max(1);
    for c in 0..chunks {
        let (k0, len) = (c * chunk, chunk.min(k - (c * chunk).min(k)));
        // Broadcast batches (size 1) read stride 0 either way; a size-1 axis's stride is irrelevant.
        let params = words(
            OP,
            &[
                b,
                m,
                n,
                len,
                l.strides[0],
                l.strides[1],
                l.strides[2],
                l.offset + k0 * l.strides[2],
                r.strides[0],
                r.strides[1],
                r.strides[2],
                r.offset + k0 * r.strides[1],
                tiles_m,
                tiles_n,
                usize::from(c > 0),
                0,
            ],
        )?;
        variant.family().launch(
            rec,
            Launch {
                op: OP,
                entry: variant.entry(),
                dtype: out.dtype,
                bindings: &Bind::io(&[lhs.buffer, rhs.buffer], &output),
                params: &params,
                grid: Grid::Linear(groups),
            },
        )?;
    }
    Ok(output)
}
