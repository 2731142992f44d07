//! Convolutions as texture products on software adapters (`shaders/conv2d_pack.wgsl` + `matmul_tex`).
//!
//! The direct kernels of [`super::conv2d`] read storage buffers in the pattern llvmpipe executes slowest
//! (one lane at a time), so where [`super::matmul_tex`] runs, a convolution with `groups = 1` becomes an
//! implicit GEMM instead: a pack kernel writes the unfolded input (or output gradient) straight into a
//! texture, and [`TexGemm`] multiplies it with the packed weight. The three products, with
//! `K = c_in·kh·kw`:
//! - forward: `y[n] [c_out, oh·ow] = W [c_out, K] · cols[n] [K, oh·ow]`, W broadcast over the batch;
//! - weight gradient: `dW [c_out, K] = Σ_n dy[n] [c_out, oh·ow] · cols[n]ᵀ [oh·ow, K]`, one product per
//!   image and a tree sum over n (the reduce kernel): summing all n·oh·ow terms in one f32 accumulator was
//!   10x less accurate than the direct kernel and moved the example CNN's batch-norm parameters past the
//!   cross-backend tolerance within five Adam steps;
//! - input gradient: `dx[n] [c_in, h·w] = W' [c_in, c_out·kh·kw] · dcols[n] [c_out·kh·kw, h·w]`.
//!
//! The outputs come out in NCHW (and `[c_out, c_in, kh, kw]`) order with no reshuffle. Grouped
//! convolutions, and shapes whose textures exceed the limits, stay on the direct kernels.

use wgrad_graph::{Buffer, Conv2dParams, Input, Layout, Meta, ReduceOp, Result};

use super::conv_geometry::{Dims, Pass};
use super::matmul_tex::{pack, supported, TexGemm, PACK_WG};
use super::words;
use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, Family, Launch, FLOATS, WG256};
use crate::texture::{Size as TextureSize, Texture};

/// Kernels that unfold a convolution operand straight into a texture for `matmul_tex`.
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "conv2d_pack",
        source: include_str!("../../shaders/conv2d_pack.wgsl"),
    },
    entries: entries!(FLOATS, WG256; "im2col" "im2col_t" "dy_cols" "weight_t"),
    features: wgpu::Features::empty(),
    checked: false,
};

/// Whether this adapter and these params take the texture paths (unfolded or taps).
pub fn applies(caps: &crate::Caps, p: &Conv2dParams) -> bool {
    supported(caps) && p.groups == 1
}

/// Fills a texture of `size` with pack kernel `entry` reading `src` (contiguous from its offset).
fn pack_conv(
    rec: &mut Recorder,
    entry: &'static str,
    src: &Input,
    d: &Dims,
    p: &Conv2dParams,
    size: TextureSize,
) -> Result<Texture> {
    let texture = rec.texture(entry, size)?;
    let texels = size.width as usize * size.height as usize * size.layers as usize;
    let mut values = vec![
        texels,
        size.width as usize,
        size.height as usize,
        src.layout.offset,
    ];
    values.extend(d.geometry(p));
    let params = words(entry, &values)?;
    FAMILY.launch(
        rec,
        Launch {
            op: entry,
            entry,
            dtype: src.dtype,
            bindings: &[Bind::Read(src.buffer), Bind::StorageTexture(&texture)],
            params: &params,
            grid: Grid::Linear(super::strided::groups(entry, texels, PACK_WG)?),
        },
    )?;
    Ok(texture)
}

/// `x` (contiguous from its offset) viewed as the matrix batch `[batch, rows, cols]`.
fn as_matrices(x: &Input, batch: usize, rows: usize, cols: usize, batch_stride: usize) -> Layout {
    Layout {
        shape: vec![batch, rows, cols].into(),
        strides: vec![batch_stride, cols, 1],
        offset: x.layout.offset,
    }
}

/// How one operand of a product gets into its texture.
enum Operand<'a> {
    /// A `[batch, rows, cols]` view, packed by `texture_pack.wgsl`.
    Matrix(Input<'a>),
    /// A `conv2d_pack.wgsl` entry reading this tensor.
    Conv(&'static str, &'a Input<'a>),
}

impl Operand<'_> {
    fn pack(
        &self,
        rec: &mut Recorder,
        p: &Conv2dParams,
        d: &Dims,
        size: TextureSize,
    ) -> Result<Texture> {
        match self {
            Operand::Matrix(x) => pack(rec, x, size),
            Operand::Conv(entry, x) => pack_conv(rec, entry, x, d, p, size),
        }
    }
}

/// Texture bytes one product stages at once, at most: a larger batch is multiplied in chunks of images,
/// each chunk's textures returned to the pool before the next is packed. (Staging the whole batch made
/// one W3 step peak at 2.8x its schedule's live-set bound.)
pub(crate) const STAGING_BUDGET: usize = 8 << 20;

/// Images `first..first + count` of `x` (its batch on dim 0).
pub(crate) fn batch_slice(x: &Input, first: usize, count: usize) -> Layout {
    let mut shape = x.layout.shape.dims().to_vec();
    shape[0] = count;
    Layout {
        shape: shape.into(),
        strides: x.layout.strides.clone(),
        offset: x.layout.offset + first * x.layout.strides[0],
    }
}

impl Operand<'_> {
    fn input(&self) -> &Input<'_> {
        match self {
            Operand::Matrix(x) => x,
            Operand::Conv(_, x) => x,
        }
    }

    /// Packs images `first..first + count` of this operand.
    fn pack_chunk(
        &self,
        rec: &mut Recorder,
        (p, d): (&Conv2dParams, &Dims),
        (first, count): (usize, usize),
        size: TextureSize,
    ) -> Result<Texture> {
        let x = self.input();
        let layout = batch_slice(x, first, count);
        let part = Input {
            layout: &layout,
            ..*x
        };
        let mut dims = Dims(d.0);
        dims.0[0] = count;
        match self {
            Operand::Matrix(_) => pack(rec, &part, size),
            Operand::Conv(entry, _) => pack_conv(rec, entry, &part, &dims, p, size),
        }
    }
}

/// Packs both operands and runs `gemm` into a fresh output for `out`, in chunks of images that stage at
/// most [`STAGING_BUDGET`] bytes of textures; `None` (nothing recorded) when the textures would exceed the
/// limits.
fn product(
    rec: &mut Recorder,
    (p, d): (&Conv2dParams, &Dims),
    gemm: &TexGemm,
    [lhs, rhs]: [Operand; 2],
    out: &Meta,
) -> Result<Option<Buffer>> {
    // one image per layer: a larger batch is taken in chunks that fit the layer limit
    let single = TexGemm { batch: 1, ..*gemm };
    if !single.fits(&rec.caps().limits) {
        return Ok(None);
    }
    let mut per_image = Vec::new();
    if !gemm.lhs_broadcast {
        per_image.push(single.lhs_size()?);
    }
    if !gemm.rhs_broadcast {
        per_image.push(single.rhs_size()?);
    }
    let output = rec.output(out)?;
    // A broadcast operand is packed once for every chunk.
    let shared = |o: &Operand, rec: &mut Recorder, broadcast: bool, size| {
        broadcast.then(|| o.pack(rec, p, d, size)).transpose()
    };
    let lhs_once = shared(&lhs, rec, gemm.lhs_broadcast, single.lhs_size()?)?;
    let rhs_once = shared(&rhs, rec, gemm.rhs_broadcast, single.rhs_size()?)?;
    for (first, count) in Batch::new(rec, gemm.batch, STAGING_BUDGET).chunks(&per_image) {
        let part = TexGemm {
            batch: count,
            ..*gemm
        };
        let range = (first, count);
        let (lhs_part, rhs_part);
        let l = match &lhs_once {
            Some(t) => t,
            None => {
                lhs_part = lhs.pack_chunk(rec, (p, d), range, part.lhs_size()?)?;
                &lhs_part
            }
        };
        let r = match &rhs_once {
            Some(t) => t,
            None => {
                rhs_part = rhs.pack_chunk(rec, (p, d), range, part.rhs_size()?)?;
                &rhs_part
            }
        };
        part.record_at(rec, [l, r], out.dtype, &output, first * gemm.m * gemm.n)?;
    }
    Ok(Some(output))
}

/// `pass` with the unfolded operand packed into a texture (this module's products), or `None` when the
/// textures would exceed the limits; inputs in the order of [`Pass`]'s docs.
pub(crate) fn run(
    rec: &mut Recorder,
    pass: Pass,
    p: &Conv2dParams,
    d: &Dims,
    [a, b]: [&Input; 2],
    out: &Meta,
) -> Result<Option<Buffer>> {
    match pass {
        Pass::Forward => conv2d(rec, p, d, a, b, out),
        Pass::BackwardInput => conv2d_backward_input(rec, p, d, a, b, out),
        Pass::BackwardWeight => conv2d_backward_weight(rec, p, d, a, b, out),
    }
}

/// The images of a product and the staging budget they are taken in chunks under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Batch {
    pub(crate) n: usize,
    pub(crate) budget: usize,
    /// Most images one chunk may hold: one texture layer each.
    pub(crate) layers: usize,
}

impl Batch {
    /// `n` images under `budget` bytes, at most the adapter's texture array layers per chunk.
    pub(crate) fn new(rec: &Recorder, n: usize, budget: usize) -> Batch {
        let layers = rec.caps().limits.max_texture_array_layers as usize;
        Batch { n, budget, layers }
    }

    /// `(first, count)` of each chunk: as many images as stage at most `budget` bytes of the per-image
    /// textures `per_image`, and at most `layers`.
    pub(crate) fn chunks(self, per_image: &[TextureSize]) -> impl Iterator<Item = (usize, usize)> {
        let bytes: usize = per_image
            .iter()
            .map(|s| s.width as usize * s.height as usize * 16)
            .sum();
        let most = self.n.min(self.layers).max(1);
        let step = (self.budget / bytes.max(1)).clamp(1, most);
        let n = self.n;
        (0..n)
            .step_by(step)
            .map(move |first| (first, step.min(n - first)))
    }
}

/// The forward convolution, or `None` when the textures would exceed the limits.
fn conv2d(
    rec: &mut Recorder,
    p: &Conv2dParams,
    d: &Dims,
    x: &Input,
    w: &Input,
    out: &Meta,
) -> Result<Option<Buffer>> {
    let [n, c_in, _, _, c_out, oh, ow, kh, kw] = d.0;
    let k = c_in * kh * kw;
    let gemm = TexGemm {
        batch: n,
        m: c_out,
        n: oh * ow,
        k,
        lhs_broadcast: true,
        rhs_broadcast: n == 1,
    };
    let weight = as_matrices(w, 1, c_out, k, 0);
    let w_mat = Input {
        layout: &weight,
        ..*w
    };
    let operands = [Operand::Matrix(w_mat), Operand::Conv("im2col", x)];
    product(rec, (p, d), &gemm, operands, out)
}

/// The adjoint in the weight, or `None` when the textures would exceed the limits.
fn conv2d_backward_weight(
    rec: &mut Recorder,
    p: &Conv2dParams,
    d: &Dims,
    x: &Input,
    dy: &Input,
    out: &Meta,
) -> Result<Option<Buffer>> {
    let [n, c_in, _, _, c_out, oh, ow, kh, kw] = d.0;
    let k = c_in * kh * kw;
    // One product per image into partials [n, c_out, K], then a tree sum over n: a single product summing
    // over every image and position would accumulate n·oh·ow terms in one f32 register per output.
    let gemm = TexGemm {
        batch: n,
        m: c_out,
        n: k,
        k: oh * ow,
        lhs_broadcast: n == 1,
        rhs_broadcast: n == 1,
    };
    let grad = as_matrices(dy, n, c_out, oh * ow, c_out * oh * ow);
    let dy_mat = Input {
        layout: &grad,
        ..*dy
    };
    let operands = [Operand::Matrix(dy_mat), Operand::Conv("im2col_t", x)];
    let partial_meta = Meta::new(vec![n, c_out, k], out.dtype);
    let Some(partials) = product(rec, (p, d), &gemm, operands, &partial_meta)? else {
        return Ok(None);
    };
    sum_over_images(rec, &partials, &partial_meta, out).map(Some)
}

/// The weight gradient from per-image `partials` (`[n, ..]` of `partial_meta`): their tree sum over dim 0.
pub(crate) fn sum_over_images(
    rec: &mut Recorder,
    partials: &Buffer,
    partial_meta: &Meta,
    out: &Meta,
) -> Result<Buffer> {
    let layout = Layout::contiguous(partial_meta.shape.clone());
    let summed = Input {
        buffer: partials,
        layout: &layout,
        dtype: out.dtype,
    };
    super::reduce::reduce(rec, ReduceOp::Sum, &[0], summed, out)
}

/// The adjoint in the input, or `None` when the textures would exceed the limits.
fn conv2d_backward_input(
    rec: &mut Recorder,
    p: &Conv2dParams,
    d: &Dims,
    dy: &Input,
    w: &Input,
    out: &Meta,
) -> Result<Option<Buffer>> {
    let [n, c_in, h, wd, c_out, _, _, kh, kw] = d.0;
    let gemm = TexGemm {
        batch: n,
        m: c_in,
        n: h * wd,
        k: c_out * kh * kw,
        lhs_broadcast: true,
        rhs_broadcast: n == 1,
    };
    let operands = [Operand::Conv("weight_t", w), Operand::Conv("dy_cols", dy)];
    product(rec, (p, d), &gemm, operands, out)
}
