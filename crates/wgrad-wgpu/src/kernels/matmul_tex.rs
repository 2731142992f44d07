//! Matmul with its operands staged in textures, for software adapters (`shaders/texture_pack.wgsl`,
//! `shaders/matmul_tex.wgsl`).
//!
//! llvmpipe/lavapipe executes storage-buffer loads lane by lane but gathers texels with SIMD (BENCHMARKS.md),
//! so on those adapters a matmul runs three dispatches: `pack_rgba` copies lhs and rhs from their strided
//! views into zero-padded `rgba32float` textures (four consecutive k of a lhs row, four consecutive columns
//! of a rhs row per texel), then `matmul_tex` computes 32x32 blocks per 8-lane subgroup from the textures.
//! The packs cost one read and one write of each operand; the product reads every texel 32 times.
//!
//! The packed textures must fit `max_texture_dimension_2d` (16384 on lavapipe): lhs is `ceil(k/4)` texels
//! wide and `batch · m_pad` tall, rhs `ceil(n/32)·8` wide and `batch · k_pad` tall. [`Plan::new`] returns
//! `None` when they do not, and the caller falls back to `matmul_sg`.

use wgrad_graph::{Buffer, DType, Input, Meta, Result};

use super::matmul::{word, words};
use crate::engine::{Bind, Dispatch, Grid, Recorder, Shader};
use crate::texture::{Texture, TEXEL_FLOATS};

/// The pack kernel (portable: no subgroups).
pub static PACK: Shader = Shader {
    name: "texture_pack",
    source: include_str!("../../../../shaders/texture_pack.wgsl"),
};

/// The matmul kernel (needs `wgpu::Features::SUBGROUP`, 8-lane subgroups).
pub static SHADER: Shader = Shader {
    name: "matmul_tex",
    source: include_str!("../../../../shaders/matmul_tex.wgsl"),
};

/// Workgroup size of `pack_rgba`.
const PACK_WG: u32 = 256;
/// Rows x columns of `out` one workgroup (one subgroup) of `matmul_tex` computes.
const BLOCK: usize = 32;

/// Variants of the portable pack file, for the naga test.
pub fn pack_variants() -> Vec<(&'static str, DType, Vec<(&'static str, f64)>)> {
    [DType::F32, DType::F16]
        .into_iter()
        .map(|d| ("pack_rgba", d, vec![("WG", PACK_WG as f64)]))
        .collect()
}

/// Whether the adapter can run this path: subgroups of exactly 8 lanes (the tile is built on them), one
/// storage texture and two sampled textures per stage.
pub fn supported(caps: &crate::Caps) -> bool {
    caps.subgroups
        && caps.subgroup_size == Some(8)
        && caps.limits.max_storage_textures_per_shader_stage >= 1
        && caps.limits.max_sampled_textures_per_shader_stage >= 2
}

/// Padded sizes of one `[b, m, k] x [b, k, n]` product and its two textures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    batch: usize,
    m: usize,
    n: usize,
    /// Texels along k: `ceil(k / 4)`.
    k4s: usize,
    tiles_m: usize,
    tiles_n: usize,
}

impl Plan {
    /// The plan, or `None` when a packed texture would exceed `max_dim` texels in width or height.
    pub fn new(batch: usize, m: usize, k: usize, n: usize, max_dim: u32) -> Option<Plan> {
        let plan = Plan {
            batch,
            m,
            n,
            k4s: k.div_ceil(TEXEL_FLOATS),
            tiles_m: m.div_ceil(BLOCK),
            tiles_n: n.div_ceil(BLOCK),
        };
        let fits = [plan.lhs_size(), plan.rhs_size()]
            .iter()
            .all(|&(w, h)| w <= max_dim as usize && h <= max_dim as usize);
        fits.then_some(plan)
    }
    fn m_pad(&self) -> usize {
        self.tiles_m * BLOCK
    }
    fn k_pad(&self) -> usize {
        self.k4s * TEXEL_FLOATS
    }
    /// (width, height) in texels of the packed lhs.
    fn lhs_size(&self) -> (usize, usize) {
        (self.k4s, self.batch * self.m_pad())
    }
    /// (width, height) in texels of the packed rhs.
    fn rhs_size(&self) -> (usize, usize) {
        (
            self.tiles_n * BLOCK / TEXEL_FLOATS,
            self.batch * self.k_pad(),
        )
    }
}

/// Packs `x` viewed as `[batch, rows, cols]` into a fresh `size` texture, rows padded to `rows_pad`.
fn pack(rec: &mut Recorder, x: &Input, rows_pad: usize, size: (usize, usize)) -> Result<Texture> {
    const OP: &str = "matmul";
    let (width, height) = (
        word(OP, "texture width", size.0)?,
        word(OP, "texture height", size.1)?,
    );
    let texture = rec.texture(OP, width, height)?;
    let (l, texels) = (x.layout, size.0 * size.1);
    let params = words(
        OP,
        &[
            texels,
            size.0,
            rows_pad,
            l.shape.0[1],
            l.shape.0[2],
            l.strides[0],
            l.strides[1],
            l.strides[2],
            l.offset,
        ],
    )?;
    let overrides = [("WG", PACK_WG as f64)];
    rec.dispatch(Dispatch {
        shader: &PACK,
        entry: "pack_rgba",
        dtype: x.dtype,
        overrides: &overrides,
        bindings: &[Bind::Read(x.buffer), Bind::StorageTexture(&texture)],
        params: &params,
        grid: Grid::Linear(super::strided::groups(OP, texels, PACK_WG)?),
    })?;
    Ok(texture)
}

/// Records pack, pack, product into `output` (contiguous `[b, m, n]` of `out.dtype`).
pub fn matmul_tex(
    rec: &mut Recorder,
    plan: Plan,
    lhs: Input,
    rhs: Input,
    out: &Meta,
    output: &Buffer,
) -> Result<()> {
    const OP: &str = "matmul";
    let ta = pack(rec, &lhs, plan.m_pad(), plan.lhs_size())?;
    let tb = pack(rec, &rhs, plan.k_pad(), plan.rhs_size())?;
    let groups = word(OP, "workgroups", plan.batch * plan.tiles_m * plan.tiles_n)?;
    let params = words(
        OP,
        &[
            plan.batch,
            plan.m,
            plan.n,
            plan.k4s,
            plan.m_pad(),
            plan.k_pad(),
            plan.tiles_m,
            plan.tiles_n,
        ],
    )?;
    rec.dispatch(Dispatch {
        shader: &SHADER,
        entry: "matmul_tex",
        dtype: out.dtype,
        overrides: &[],
        bindings: &[
            Bind::Texture(&ta),
            Bind::Texture(&tb),
            Bind::ReadWrite(output),
        ],
        params: &params,
        grid: Grid::Linear(groups),
    })
}

#[cfg(test)]
mod tests {
    use super::super::matmul::check::{self, assert_close, download, In};
    use super::super::matmul::{matmul_with, Variant};
    use super::*;
    use crate::testing::backend_or_skip;
    use crate::WgpuBackend;
    use wgrad_cpu::CpuBackend;
    use wgrad_graph::dtype::encode_f64;
    use wgrad_graph::{Backend, Op};

    fn input<'a>(buffer: &'a Buffer, x: &'a In) -> Input<'a> {
        Input {
            buffer,
            layout: &x.layout,
            dtype: DType::F32,
        }
    }

    /// Records `Variant::Texture` products of `pairs` into one execute; returns each result and the
    /// CPU reference.
    fn products_in_one_execute(gpu: &WgpuBackend, pairs: &[(In, In)]) -> Vec<(Vec<f64>, Vec<f64>)> {
        let up = |i: &In| {
            let meta = Meta::new(vec![i.data.len()], DType::F32);
            gpu.upload(&encode_f64(&i.data, DType::F32), &meta)
                .expect("upload")
        };
        let metas: Vec<Meta> = pairs
            .iter()
            .map(|(a, b)| {
                let (sa, sb) = (&a.layout.shape.0, &b.layout.shape.0);
                Meta::new(vec![sa[0], sa[1], sb[2]], DType::F32)
            })
            .collect();
        let buffers: Vec<_> = pairs.iter().map(|(a, b)| (up(a), up(b))).collect();
        let mut rec = Recorder::new(gpu.engine().clone());
        let outs: Vec<Buffer> = pairs
            .iter()
            .zip(&buffers)
            .zip(&metas)
            .map(|(((a, b), (ab, bb)), meta)| {
                matmul_with(&mut rec, Variant::Texture, input(ab, a), input(bb, b), meta)
                    .expect("matmul")
            })
            .collect();
        rec.finish().expect("submit");
        pairs
            .iter()
            .zip(outs.iter().zip(&metas))
            .map(|((a, b), (out, meta))| {
                let want = check::run(&CpuBackend::new(), &Op::Matmul, &[a, b], meta);
                (download(gpu, out, meta), want)
            })
            .collect()
    }

    /// Three products of one shape in one execute share pooled textures (the second pack overwrites a
    /// texture the first product read, so this checks wgpu's ordering), and repeating the execute, as a
    /// training loop does, creates no new textures.
    #[test]
    fn textures_are_reused_within_and_across_executes() {
        let Some(gpu) = backend_or_skip() else { return };
        if !supported(gpu.caps()) {
            eprintln!(
                "skipped: adapter {} cannot run matmul_tex",
                gpu.caps().adapter_name
            );
            return;
        }
        let pairs: Vec<(In, In)> = (0..3)
            .map(|i| (In::new(10 + i, &[2, 17, 9]), In::new(20 + i, &[2, 9, 33])))
            .collect();
        let mut created = 0;
        for round in 0..3 {
            for (i, (got, want)) in products_in_one_execute(&gpu, &pairs).iter().enumerate() {
                assert_close(&format!("round {round} product {i}"), got, want, 1e-4, 1e-4);
            }
            let now = gpu.engine().textures.created();
            if round == 0 {
                created = now;
            } else {
                assert_eq!(now, created, "round {round} created textures");
            }
        }
    }

    /// Past `max_texture_dimension_2d` the product runs as `matmul_sg` and takes no texture.
    #[test]
    fn falls_back_past_the_texture_limit() {
        let Some(gpu) = backend_or_skip() else { return };
        if !supported(gpu.caps()) {
            eprintln!(
                "skipped: adapter {} cannot run matmul_tex",
                gpu.caps().adapter_name
            );
            return;
        }
        let max = gpu.caps().limits.max_texture_dimension_2d;
        // lhs texture height batch · 32 > max
        let batch = max as usize / BLOCK + 1;
        assert!(Plan::new(batch, 3, 5, 2, max).is_none());
        let pair = (In::new(1, &[batch, 3, 5]), In::new(2, &[batch, 5, 2]));
        let before = gpu.engine().textures.created();
        let (got, want) = &products_in_one_execute(&gpu, &[pair])[0];
        assert_close("fallback", got, want, 1e-4, 1e-4);
        assert_eq!(gpu.engine().textures.created(), before);
    }

    #[test]
    fn plan_pads_to_tiles_and_texels() {
        let p = Plan::new(2, 33, 5, 17, 16384).expect("fits");
        // m 33 -> 64 rows per batch, k 5 -> 2 texels (8 values), n 17 -> one 32-column tile = 8 texels
        assert_eq!(p.lhs_size(), (2, 128));
        assert_eq!(p.rhs_size(), (8, 16));
        assert_eq!((p.m_pad(), p.k_pad()), (64, 8));
    }

    #[test]
    fn plan_refuses_textures_past_the_limit() {
        // lhs height batch · m_pad = 512 · 32 = 16384 fits exactly; one more batch does not
        assert!(Plan::new(512, 32, 4, 4, 16384).is_some());
        assert!(Plan::new(513, 32, 4, 4, 16384).is_none());
        // k = 65540 -> lhs width 16385 texels
        assert!(Plan::new(1, 1, 65540, 1, 16384).is_none());
        // rhs height batch · k_pad
        assert!(Plan::new(2, 1, 8192, 1, 16384).is_some());
        assert!(Plan::new(2, 1, 8193, 1, 16384).is_none());
    }
}
