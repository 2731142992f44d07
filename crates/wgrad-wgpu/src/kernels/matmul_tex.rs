//! Matmul with its operands staged in textures, for software adapters (`shaders/texture_pack.wgsl`,
//! `shaders/matmul_tex.wgsl`).
//!
//! llvmpipe/lavapipe executes storage-buffer loads lane by lane but gathers texels with SIMD (BENCHMARKS.md),
//! so on those adapters a matmul runs three dispatches: `pack_rgba` copies lhs and rhs from their strided
//! views into zero-padded `rgba32float` textures (four consecutive k of a lhs row, four consecutive columns
//! of a rhs row per texel), then `matmul_tex` computes 32x32 blocks per 8-lane subgroup from the textures.
//! The packs cost one read and one write of each operand; the product reads every texel 32 times.
//!
//! The packed textures must fit `max_texture_dimension_2d` (16384 on lavapipe) and `max_texture_array_layers`
//! (2048): lhs is `ceil(k/4)` texels wide and m (padded to 32) tall, rhs `ceil(n/32)·8` wide and k (padded
//! to 4) tall, one layer per batch. When [`TexGemm::fits`] says they do not, the caller uses `matmul_sg`. [`TexGemm`] is the product alone, for callers with their own pack kernels
//! (the convolutions in [`super::conv2d_tex`]).

use wgrad_graph::{Buffer, DType, Input, Meta, Result};

use super::{word, words};
use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, Family, Launch, FLOATS, WG256};
use crate::texture::{Size as TextureSize, Texture, TEXEL_FLOATS};

/// The pack kernel (portable: no subgroups): a strided `[batch, rows, cols]` view into texture layers.
pub static PACK: Family = Family {
    shader: Shader {
        name: "texture_pack",
        source: include_str!("../../shaders/texture_pack.wgsl"),
    },
    entries: entries!(FLOATS, WG256; "pack_rgba" "pack_rgba4" "pack_rgba4t"),
    features: wgpu::Features::empty(),
    checked: false,
};

/// The matmul kernel (needs `wgpu::Features::SUBGROUP`, 8-lane subgroups).
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "matmul_tex",
        source: concat!(
            include_str!("../../shaders/tex_tile.wgsl"),
            include_str!("../../shaders/matmul_tex.wgsl")
        ),
    },
    entries: entries!(FLOATS, &[]; "matmul_tex"),
    features: wgpu::Features::SUBGROUP,
    checked: false,
};

/// Workgroup size of `pack_rgba` (and of the `conv2d_pack.wgsl` kernels); `WG256`.
pub const PACK_WG: u32 = 256;
/// Rows x columns of `out` one workgroup (one subgroup) of `matmul_tex` computes.
const BLOCK: usize = 32;

/// Whether the adapter can run this path: subgroups of exactly 8 lanes (the tile is built on them), one
/// storage texture and two sampled textures per stage.
pub fn supported(caps: &crate::Caps) -> bool {
    caps.subgroups
        && caps.subgroup_size == Some(8)
        && caps.limits.max_storage_textures_per_shader_stage >= 1
        && caps.limits.max_sampled_textures_per_shader_stage >= 2
}

/// One product `matmul_tex` computes: `out[b] = lhs[b] · rhs[b]` for `b < batch`, with `lhs[b]` of `[m, k]`
/// and `rhs[b]` of `[k, n]`, each matrix one texture layer. A broadcast operand is packed once (one layer
/// read for every b).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TexGemm {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub lhs_broadcast: bool,
    pub rhs_broadcast: bool,
}

impl TexGemm {
    fn k4s(&self) -> usize {
        self.k.div_ceil(TEXEL_FLOATS)
    }
    fn tiles_m(&self) -> usize {
        self.m.div_ceil(BLOCK)
    }
    fn tiles_n(&self) -> usize {
        self.n.div_ceil(BLOCK)
    }
    fn layers(&self, broadcast: bool) -> usize {
        if broadcast {
            1
        } else {
            self.batch
        }
    }
    /// Texels the lhs pack must fill: `ceil(k/4)` wide, m padded to the 32-row tile, one layer per b.
    pub fn lhs_size(&self) -> Result<TextureSize> {
        size(
            unaliased(self.k4s()),
            self.tiles_m() * BLOCK,
            self.layers(self.lhs_broadcast),
        )
    }
    /// Texels the rhs pack must fill: n padded to the 32-column tile, k padded to 4, one layer per b.
    pub fn rhs_size(&self) -> Result<TextureSize> {
        let width = self.tiles_n() * BLOCK / TEXEL_FLOATS;
        size(
            unaliased(width),
            self.k4s() * TEXEL_FLOATS,
            self.layers(self.rhs_broadcast),
        )
    }
    /// Whether both packed operands fit the texture limits.
    pub fn fits(&self, limits: &wgpu::Limits) -> bool {
        let ok = |s: Result<TextureSize>| {
            s.is_ok_and(|s| {
                s.width.max(s.height) <= limits.max_texture_dimension_2d
                    && s.layers <= limits.max_texture_array_layers
            })
        };
        ok(self.lhs_size()) && ok(self.rhs_size())
    }

    /// Records the product of two packed textures into `output` (contiguous `[batch, m, n]` of `dtype`).
    pub fn record(
        &self,
        rec: &mut Recorder,
        lhs: &Texture,
        rhs: &Texture,
        dtype: DType,
        output: &Buffer,
    ) -> Result<()> {
        self.record_at(rec, [lhs, rhs], dtype, output, 0)
    }

    /// [`Self::record`] into `output` from element `offset` on (a chunk of a larger batch).
    pub fn record_at(
        &self,
        rec: &mut Recorder,
        textures: [&Texture; 2],
        dtype: DType,
        output: &Buffer,
        offset: usize,
    ) -> Result<()> {
        self.record_stored(rec, textures, dtype, output, (offset, false))
    }

    /// [`Self::record_at`], the output stored transposed (`[batch, n, m]`) when `transposed`.
    fn record_stored(
        &self,
        rec: &mut Recorder,
        [lhs, rhs]: [&Texture; 2],
        dtype: DType,
        output: &Buffer,
        (offset, transposed): (usize, bool),
    ) -> Result<()> {
        const OP: &str = "matmul";
        let groups = word(
            OP,
            "workgroups",
            self.batch * self.tiles_m() * self.tiles_n(),
        )?;
        let params = words(
            OP,
            &[
                self.batch,
                self.m,
                self.n,
                self.k4s(),
                usize::from(!self.lhs_broadcast),
                usize::from(!self.rhs_broadcast),
                self.tiles_m(),
                self.tiles_n(),
                offset,
                usize::from(transposed),
                0,
                0,
            ],
        )?;
        FAMILY.launch(
            rec,
            Launch {
                op: OP,
                entry: "matmul_tex",
                dtype,
                bindings: &[
                    Bind::Texture(lhs),
                    Bind::Texture(rhs),
                    Bind::ReadWrite(output),
                ],
                params: &params,
                grid: Grid::Linear(groups),
            },
        )
    }
}

/// A texture width whose rows are not a multiple of 4 KiB apart (64 rgba32f texels): the tile reads the
/// same column of 4-8 rows per step, and on llvmpipe rows 4 KiB apart share one set of the host's L1
/// cache (W1 1024 went from 27-49 GFLOP/s across runs to 57-59 with the padding texel).
pub(crate) fn unaliased(width: usize) -> usize {
    if width.is_multiple_of(64) {
        width + 1
    } else {
        width
    }
}

fn size(width: usize, height: usize, layers: usize) -> Result<TextureSize> {
    const OP: &str = "matmul";
    Ok(TextureSize {
        width: word(OP, "texture width", width)?,
        height: word(OP, "texture height", height)?,
        layers: word(OP, "texture layers", layers)?,
    })
}

/// The pack entry for layout `l` (`[batch, rows, cols]`) into a texture of `size`, and the texels each
/// invocation writes: a vec4 load per texel where rows are contiguous and aligned, four texels from four
/// vec4 loads where columns are (a transposed operand), else element by element
/// (`shaders/texture_pack.wgsl`).
fn pack_entry(l: &wgrad_graph::Layout, size: TextureSize) -> (&'static str, usize) {
    let [_, rows, cols] = [l.shape.0[0], l.shape.0[1], l.shape.0[2]];
    let [s_b, s_r, s_c] = [l.strides[0], l.strides[1], l.strides[2]];
    let aligned = |v: usize| v.is_multiple_of(4);
    let batch_ok = size.layers == 1 || aligned(s_b);
    if !aligned(l.offset) || !batch_ok {
        ("pack_rgba", 1)
    } else if s_c == 1 && aligned(cols) && (rows == 1 || aligned(s_r)) {
        ("pack_rgba4", 1)
    } else if s_r == 1
        && aligned(rows)
        && aligned(size.height as usize)
        && (cols == 1 || aligned(s_c))
    {
        ("pack_rgba4t", 4)
    } else {
        ("pack_rgba", 1)
    }
}

/// Packs `x` viewed as `[batch, rows, cols]` into a fresh texture of `size` (layer b = batch b; only
/// `size.layers` batches are read, so a broadcast operand packs once).
pub fn pack(rec: &mut Recorder, x: &Input, size: TextureSize) -> Result<Texture> {
    const OP: &str = "matmul";
    let texture = rec.texture(OP, size)?;
    let l = x.layout;
    let texels = size.width as usize * size.height as usize * size.layers as usize;
    let (entry, per_invocation) = pack_entry(l, size);
    let params = words(
        OP,
        &[
            texels,
            size.width as usize,
            size.height as usize,
            l.shape.0[1],
            l.shape.0[2],
            l.strides[0],
            l.strides[1],
            l.strides[2],
            l.offset,
        ],
    )?;
    PACK.launch(
        rec,
        Launch {
            op: OP,
            entry,
            dtype: x.dtype,
            bindings: &[Bind::Read(x.buffer), Bind::StorageTexture(&texture)],
            params: &params,
            grid: Grid::Linear(super::strided::groups(
                OP,
                texels / per_invocation,
                PACK_WG,
            )?),
        },
    )?;
    Ok(texture)
}

/// The product `lhs [b, m, k] x rhs [b, k, n]` as a [`TexGemm`] (a batch stride of 0 broadcasts).
pub fn gemm(lhs: &Input, rhs: &Input) -> TexGemm {
    let (l, r) = (&lhs.layout, &rhs.layout);
    let [batch, m, k] = [l.shape.0[0], l.shape.0[1], l.shape.0[2]];
    TexGemm {
        batch,
        m,
        n: r.shape.0[2],
        k,
        lhs_broadcast: batch == 1 || l.strides[0] == 0,
        rhs_broadcast: batch == 1 || r.strides[0] == 0,
    }
}

/// Records `gemm` (from [`gemm`], checked with [`TexGemm::fits`]) into `output` (contiguous `[b, m, n]` of
/// `out.dtype`): two packs and the product.
///
/// Packing is the costly part on llvmpipe, and a transposed pack (`pack_rgba4t`) costs about twice a
/// row-wise one per texel (W2's forward layers, `x·Wᵀ`: 21 GFLOP/s against 39-44 for the same products
/// without the transposed weight). So where it is cheaper the product is computed as
/// `outᵀ = rhsᵀ · lhsᵀ`, stored transposed: the transposed pack then falls on the smaller operand.
pub fn matmul_tex(
    rec: &mut Recorder,
    gemm: &TexGemm,
    [lhs, rhs]: [&Input; 2],
    out: &Meta,
    output: &Buffer,
) -> Result<()> {
    let swapped = TexGemm {
        m: gemm.n,
        n: gemm.m,
        lhs_broadcast: gemm.rhs_broadcast,
        rhs_broadcast: gemm.lhs_broadcast,
        ..*gemm
    };
    let (lt, rt) = (
        lhs.layout.permute(&[0, 2, 1]),
        rhs.layout.permute(&[0, 2, 1]),
    );
    let swap_cost = pack_cost(&rt, swapped.lhs_size()?) + pack_cost(&lt, swapped.rhs_size()?);
    let cost = pack_cost(lhs.layout, gemm.lhs_size()?) + pack_cost(rhs.layout, gemm.rhs_size()?);
    if swap_cost < cost && swapped.fits(&rec.caps().limits) {
        let ta = pack(
            rec,
            &Input {
                layout: &rt,
                ..*rhs
            },
            swapped.lhs_size()?,
        )?;
        let tb = pack(
            rec,
            &Input {
                layout: &lt,
                ..*lhs
            },
            swapped.rhs_size()?,
        )?;
        return swapped.record_stored(rec, [&ta, &tb], out.dtype, output, (0, true));
    }
    let ta = pack(rec, lhs, gemm.lhs_size()?)?;
    let tb = pack(rec, rhs, gemm.rhs_size()?)?;
    gemm.record(rec, &ta, &tb, out.dtype, output)
}

/// What packing `l` into `size` costs, in units of a row-wise texel (measured on lavapipe: a transposed
/// texel about 2, an element-by-element texel about 4).
fn pack_cost(l: &wgrad_graph::Layout, size: TextureSize) -> usize {
    let texels = size.width as usize * size.height as usize * size.layers as usize;
    let per_texel = match pack_entry(l, size).0 {
        "pack_rgba4" => 1,
        "pack_rgba4t" => 2,
        _ => 4,
    };
    texels * per_texel
}

#[cfg(test)]
mod tests {
    use super::super::matmul::{matmul_with, Variant};
    use super::*;
    use crate::kernel_check::{download, input, upload, In};
    use crate::WgpuBackend;
    use wgrad_graph::DType;

    /// Records the `variant` products of `pairs` into one execute and reads each result back.
    fn products_in_one_execute(
        gpu: &WgpuBackend,
        variant: Variant,
        pairs: &[(In, In)],
    ) -> Vec<Vec<f64>> {
        let up = |x: &In| upload(gpu, x, DType::F32);
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
                let (ia, ib) = (input(ab, a, DType::F32), input(bb, b, DType::F32));
                matmul_with(&mut rec, variant, ia, ib, meta).expect("matmul")
            })
            .collect();
        rec.finish().expect("submit");
        outs.iter()
            .zip(&metas)
            .map(|(out, meta)| download(gpu, out, meta))
            .collect()
    }

    /// The adapter, when it runs `matmul_tex` (else a loud skip).
    fn texture_adapter() -> Option<WgpuBackend> {
        crate::testing::texture_backend_or_skip()
    }

    /// Three products of one shape in one execute share pooled textures (the second pack overwrites a
    /// texture the first product read, so this checks wgpu's ordering): each equals, bit for bit, the same
    /// product computed alone. Repeating the execute, as a training loop does, creates no new textures.
    /// (Values against the CPU reference: the op-table harness, `tests/ops`, on every matmul kernel.)
    #[test]
    fn packs_read_four_elements_where_rows_or_columns_are_aligned() {
        use wgrad_graph::{Layout, Shape};
        let c = |s: [usize; 3]| Layout::contiguous(Shape::new(s.to_vec()));
        let size = |height| TextureSize {
            width: 10,
            height,
            layers: 2,
        };
        assert_eq!(pack_entry(&c([2, 36, 40]), size(64)).0, "pack_rgba4");
        let transposed = c([2, 40, 36]).permute(&[0, 2, 1]);
        assert_eq!(pack_entry(&transposed, size(64)), ("pack_rgba4t", 4));
        assert_eq!(pack_entry(&transposed, size(66)).0, "pack_rgba");
        assert_eq!(pack_entry(&c([2, 3, 5]), size(32)).0, "pack_rgba");
    }

    #[test]
    fn textures_are_reused_within_and_across_executes() {
        let Some(gpu) = texture_adapter() else { return };
        let pair = |i: u64| (In::new(10 + i, &[2, 17, 9]), In::new(20 + i, &[2, 9, 33]));
        let pairs: Vec<(In, In)> = (0..3).map(pair).collect();
        let alone: Vec<Vec<f64>> = (0..3)
            .map(|i| products_in_one_execute(&gpu, Variant::Texture, &[pair(i)]).remove(0))
            .collect();
        let mut created = 0;
        for round in 0..3 {
            let together = products_in_one_execute(&gpu, Variant::Texture, &pairs);
            assert_eq!(
                together, alone,
                "round {round}: products in one execute differ"
            );
            let now = gpu.engine().textures.created();
            if round == 0 {
                created = now;
            } else {
                assert_eq!(now, created, "round {round} created textures");
            }
        }
    }

    /// Past the texture limits the product runs as `matmul_sg` (the same bits) and takes no texture.
    #[test]
    fn falls_back_past_the_texture_limit() {
        let Some(gpu) = texture_adapter() else { return };
        // a rhs texture taller than the limit
        let k = gpu.caps().limits.max_texture_dimension_2d as usize + 1;
        assert!(!gemm(1, 3, k, 2).fits(&gpu.caps().limits));
        let pair = || (In::new(1, &[1, 3, k]), In::new(2, &[1, k, 2]));
        let before = gpu.engine().textures.created();
        let got = products_in_one_execute(&gpu, Variant::Texture, &[pair()]);
        assert_eq!(gpu.engine().textures.created(), before);
        let subgroup = products_in_one_execute(&gpu, Variant::Subgroup, &[pair()]);
        assert_eq!(got, subgroup);
    }

    fn gemm(batch: usize, m: usize, k: usize, n: usize) -> TexGemm {
        TexGemm {
            batch,
            m,
            n,
            k,
            lhs_broadcast: false,
            rhs_broadcast: batch == 1,
        }
    }

    #[test]
    fn texture_sizes_pad_to_tiles_and_texels() {
        let g = gemm(2, 33, 5, 17);
        // m 33 -> 64 rows, k 5 -> 2 texels (8 values), n 17 -> one 32-column tile = 8 texels
        let s = |w, h, layers| TextureSize {
            width: w,
            height: h,
            layers,
        };
        assert_eq!(g.lhs_size().ok(), Some(s(2, 64, 2)));
        assert_eq!(g.rhs_size().ok(), Some(s(8, 8, 2)));
        let broadcast = TexGemm {
            lhs_broadcast: true,
            ..g
        };
        assert_eq!(broadcast.lhs_size().ok(), Some(s(2, 64, 1)));
    }

    #[test]
    fn texture_limits_decide_the_fallback() {
        let limits = wgpu::Limits {
            max_texture_dimension_2d: 16384,
            max_texture_array_layers: 2048,
            ..wgpu::Limits::default()
        };
        assert!(gemm(2048, 16384, 4, 4).fits(&limits));
        assert!(!gemm(2049, 32, 4, 4).fits(&limits));
        assert!(!gemm(1, 16385, 4, 4).fits(&limits));
        // rhs height: k padded to 4 (k also bounds the lhs width, k / 4 texels)
        assert!(gemm(1, 1, 16384, 1).fits(&limits));
        assert!(!gemm(1, 1, 16385, 1).fits(&limits));
    }
}
