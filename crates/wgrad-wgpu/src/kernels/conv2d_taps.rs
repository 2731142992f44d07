//! Convolutions whose unfolded operand is never stored (`shaders/conv2d_taps.wgsl`,
//! `shaders/conv2d_taps_pack.wgsl`), the first choice on software adapters where [`super::matmul_tex`] runs.
//!
//! [`super::conv2d_tex`] writes the unfolded input (kh·kw copies of the activation) into a texture before
//! its product; on llvmpipe every value of that pass costs a storage load issued lane by lane, and the packs
//! took more than half of a W3 step. Here the activation is copied once, channels-last and zero-padded
//! (`nhwc`: four channels of one pixel per texel), and the product reads the taps of each position from it
//! directly, with k ordered (tap, channel):
//! - forward: `y[n]ᵀ [oh·ow, c_out] = cols(x[n]) [oh·ow, K] · Wt [K, c_out]`, stored transposed (NCHW);
//! - input gradient at stride 1: the same product over `dy` padded by `(k - 1)·d - p` with the taps of W
//!   flipped and its two channel dims swapped (a full correlation), columns c_in;
//! - weight gradient: `dW[n] [c_out, (tap, c_in)] = dy[n] [c_out, oh·ow] · cols(x[n])` per image, then the
//!   tree sum over images that [`super::conv2d_tex`] uses, for the same accuracy reason.
//!
//! [`run`] returns `None` (nothing recorded) where this path does not apply: an input gradient with a
//! stride over 1 or a padding over `(k - 1)·d`, a forward pass or input gradient over fewer than 3 channels
//! (slower than unfolding), or textures past the adapter's limits.

use wgrad_graph::{Buffer, Conv2dParams, DType, Input, Layout, Meta, Result};

use super::conv2d_tex::{batch_slice, sum_over_images, STAGING_BUDGET};
use super::conv_geometry::{Dims, Pass};
use super::matmul_tex::{pack, TexGemm, PACK_WG};
use super::{word, words};
use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, Family, Launch, FLOATS, WG256};
use crate::texture::{Size as TextureSize, Texture, TEXEL_FLOATS};

/// The pack kernels (portable: no subgroups).
pub static PACK: Family = Family {
    shader: Shader {
        name: "conv2d_taps_pack",
        source: include_str!("../../shaders/conv2d_taps_pack.wgsl"),
    },
    entries: entries!(FLOATS, WG256; "nhwc" "weight_taps"),
    features: wgpu::Features::empty(),
    checked: false,
};

/// The products (`wgpu::Features::SUBGROUP`, 8-lane subgroups, as `matmul_tex`).
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "conv2d_taps",
        source: concat!(
            include_str!("../../shaders/tex_tile.wgsl"),
            include_str!("../../shaders/conv2d_taps.wgsl")
        ),
    },
    entries: entries!(FLOATS, &[]; "conv_taps" "conv_taps_wgrad"),
    features: wgpu::Features::SUBGROUP,
    checked: false,
};

/// Rows and columns of the output block one subgroup computes.
const BLOCK: usize = 32;

/// How a product walks a channels-last activation texture.
#[derive(Clone, Copy, Debug)]
struct Walk {
    /// The activation: channels, height, width; its texture's top and left padding, padded height and width.
    c: usize,
    h: usize,
    w: usize,
    pad: [usize; 2],
    hp: usize,
    wp: usize,
    /// The positions (output grid) and the kernel's taps.
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
    /// Strides and dilations in the original image's pixels.
    stride: [usize; 2],
    dilation: [usize; 2],
}

impl Walk {
    /// The walk of `pass`, or `None` where this path does not apply.
    fn new(pass: Pass, p: &Conv2dParams, d: &Dims) -> Option<Walk> {
        let [_, c_in, h, w, c_out, oh, ow, kh, kw] = d.0;
        let (stride, dilation) = (p.stride, p.dilation);
        let (c, ah, aw, pad, positions) = match pass {
            Pass::Forward | Pass::BackwardWeight => (c_in, h, w, p.padding, [oh, ow]),
            Pass::BackwardInput => {
                // a full correlation of dy: only at stride 1, and while the padding is not larger than
                // the kernel's reach
                if stride != [1, 1] {
                    return None;
                }
                let reach = [(kh - 1) * dilation[0], (kw - 1) * dilation[1]];
                let pad = [
                    reach[0].checked_sub(p.padding[0])?,
                    reach[1].checked_sub(p.padding[1])?,
                ];
                (c_out, oh, ow, pad, [h, w])
            }
        };
        // Fewer than 3 channels fill at most half of each texel, so the product does at least twice the
        // unfolded path's work along k (W3's first layer, 1 channel: 14.2 against 10.6 ms); the weight
        // gradient pads columns instead and stays faster (12.4 against 19.6 ms there).
        if c < 3 && pass != Pass::BackwardWeight {
            return None;
        }
        let [py, px] = positions;
        Some(Walk {
            c,
            h: ah,
            w: aw,
            pad,
            hp: (py - 1) * stride[0] + (kh - 1) * dilation[0] + 1,
            wp: (px - 1) * stride[1] + (kw - 1) * dilation[1] + 1,
            oh: py,
            ow: px,
            kh,
            kw,
            stride,
            dilation,
        })
    }

    fn c4s(&self) -> usize {
        self.c.div_ceil(TEXEL_FLOATS)
    }
    fn positions(&self) -> usize {
        self.oh * self.ow
    }
    fn taps(&self) -> usize {
        self.kh * self.kw
    }
    /// One layer of the activation texture.
    fn layer(&self) -> Result<TextureSize> {
        size(self.c4s(), self.hp * self.wp, 1)
    }

    /// Packs images `first..first + count` of `a` (contiguous NCHW from its offset) channels-last.
    fn pack(
        &self,
        rec: &mut Recorder,
        a: &Input,
        (first, count): (usize, usize),
    ) -> Result<Texture> {
        let layout = batch_slice(a, first, count);
        let size = TextureSize {
            layers: word(OP, "texture layers", count)?,
            ..self.layer()?
        };
        let v = [self.c, self.h, self.w, self.wp, self.pad[0], self.pad[1]];
        pack_with(
            rec,
            "nhwc",
            a.buffer,
            a.dtype,
            layout.offset,
            size,
            v,
            [0; 6],
        )
    }

    /// The words of conv2d_taps.wgsl's Params after the leading seven.
    fn params(&self, channels: usize) -> [usize; 10] {
        [
            self.c4s(),
            self.kh,
            self.kw,
            self.dilation[0] * self.wp,
            self.dilation[1],
            self.ow,
            self.positions(),
            self.stride[0] * self.wp,
            self.stride[1],
            channels,
        ]
    }
}

const OP: &str = "conv2d";

fn size(width: usize, height: usize, layers: usize) -> Result<TextureSize> {
    Ok(TextureSize {
        width: word(OP, "texture width", width)?,
        height: word(OP, "texture height", height)?,
        layers: word(OP, "texture layers", layers)?,
    })
}

/// Runs pack entry `entry` over `src` into a fresh texture of `size`; `nhwc` and `weight` are the words
/// of the two halves of conv2d_taps_pack.wgsl's Params.
#[allow(clippy::too_many_arguments)]
fn pack_with(
    rec: &mut Recorder,
    entry: &'static str,
    src: &Buffer,
    dtype: DType,
    offset: usize,
    size: TextureSize,
    nhwc: [usize; 6],
    weight: [usize; 6],
) -> Result<Texture> {
    let texture = rec.texture(entry, size)?;
    let texels = size.width as usize * size.height as usize * size.layers as usize;
    let mut v = vec![texels, size.width as usize, size.height as usize, offset];
    v.extend(nhwc);
    v.extend(weight);
    let params = words(entry, &v)?;
    PACK.launch(
        rec,
        Launch {
            op: OP,
            entry,
            dtype,
            bindings: &[Bind::Read(src), Bind::StorageTexture(&texture)],
            params: &params,
            grid: Grid::Linear(super::strided::groups(OP, texels, PACK_WG)?),
        },
    )?;
    Ok(texture)
}

/// `pass` on this path, or `None` (nothing recorded) where it does not apply; inputs in the order of
/// [`Pass`]'s docs.
pub(crate) fn run(
    rec: &mut Recorder,
    pass: Pass,
    p: &Conv2dParams,
    d: &Dims,
    inputs: [&Input; 2],
    out: &Meta,
) -> Result<Option<Buffer>> {
    run_with(rec, (pass, p, d), inputs, out, STAGING_BUDGET)
}

/// [`run`] staging at most `budget` bytes of per-image textures at once (at least one image).
fn run_with(
    rec: &mut Recorder,
    (pass, p, d): (Pass, &Conv2dParams, &Dims),
    [a, b]: [&Input; 2],
    out: &Meta,
    budget: usize,
) -> Result<Option<Buffer>> {
    let Some(walk) = Walk::new(pass, p, d) else {
        return Ok(None);
    };
    let [n, c_in, _, _, c_out, ..] = d.0;
    let layers = rec.caps().limits.max_texture_array_layers as usize;
    let batch = Batch { n, budget, layers };
    match pass {
        Pass::Forward => forward(rec, &walk, batch, (a, b), (c_out, false), out),
        Pass::BackwardInput => forward(rec, &walk, batch, (a, b), (c_in, true), out),
        Pass::BackwardWeight => weight_gradient(rec, &walk, batch, (a, b), (c_in, c_out), out),
    }
}

/// The images of a product and the staging budget they are taken in chunks under.
#[derive(Clone, Copy, Debug)]
struct Batch {
    n: usize,
    budget: usize,
    /// Most images one chunk may hold: one texture layer each.
    layers: usize,
}

impl Batch {
    /// `(first, count)` of each chunk: as many images as stage at most `budget` bytes of the per-image
    /// textures `per_image`, and at most `layers`.
    fn chunks(self, per_image: &[TextureSize]) -> impl Iterator<Item = (usize, usize)> {
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

/// Whether every texture of a product fits the adapter.
fn fits(rec: &Recorder, sizes: &[TextureSize]) -> bool {
    let l = &rec.caps().limits;
    sizes.iter().all(|s| {
        s.width.max(s.height) <= l.max_texture_dimension_2d
            && s.layers <= l.max_texture_array_layers
    })
}

/// `conv_taps`: the activation `act` (x, or dy for the input gradient) against weight `w`, `columns`
/// output channels, taps flipped and channel dims swapped when `flip`.
fn forward(
    rec: &mut Recorder,
    walk: &Walk,
    batch: Batch,
    (act, w): (&Input, &Input),
    (columns, flip): (usize, bool),
    out: &Meta,
) -> Result<Option<Buffer>> {
    let tiles_n = columns.div_ceil(BLOCK);
    let k4s = walk.taps() * walk.c4s();
    let wt_size = size(tiles_n * BLOCK / TEXEL_FLOATS, k4s * TEXEL_FLOATS, 1)?;
    if !fits(rec, &[walk.layer()?, wt_size]) {
        return Ok(None);
    }
    let ws = w.layout.shape.dims();
    let weight = [
        ws[0],
        ws[1],
        walk.kh,
        walk.kw,
        walk.c4s(),
        usize::from(flip),
    ];
    let wt = pack_with(
        rec,
        "weight_taps",
        w.buffer,
        w.dtype,
        w.layout.offset,
        wt_size,
        [0; 6],
        weight,
    )?;
    let output = rec.output(out)?;
    let positions = walk.positions();
    for (first, count) in batch.chunks(&[walk.layer()?]) {
        let x = walk.pack(rec, act, (first, count))?;
        let lead = [
            count,
            positions,
            columns,
            k4s,
            positions.div_ceil(BLOCK),
            tiles_n,
            first * positions * columns,
        ];
        let params = product_params(&lead, &walk.params(columns), [1, 0])?;
        launch(rec, "conv_taps", out.dtype, [&x, &wt], &output, &params)?;
    }
    Ok(Some(output))
}

/// `conv_taps_wgrad` per image, then the sum over images.
fn weight_gradient(
    rec: &mut Recorder,
    walk: &Walk,
    batch: Batch,
    (x, dy): (&Input, &Input),
    (c_in, c_out): (usize, usize),
    out: &Meta,
) -> Result<Option<Buffer>> {
    let positions = walk.positions();
    let columns = walk.taps() * walk.c4s() * TEXEL_FLOATS;
    // dy[n] as the lhs [c_out, positions] of a product with k = positions
    let gemm = TexGemm {
        batch: 1,
        m: c_out,
        n: columns,
        k: positions,
        lhs_broadcast: false,
        rhs_broadcast: false,
    };
    let per_image = [walk.layer()?, gemm.lhs_size()?];
    if !fits(rec, &per_image) {
        return Ok(None);
    }
    let partial_meta = Meta::new(vec![batch.n, c_out, c_in * walk.taps()], out.dtype);
    let partials = rec.output(&partial_meta)?;
    for (first, count) in batch.chunks(&per_image) {
        let xt = walk.pack(rec, x, (first, count))?;
        let grad = dy_matrices(dy, (first, count), c_out, positions);
        let dy_part = Input {
            layout: &grad,
            ..*dy
        };
        let part = TexGemm {
            batch: count,
            ..gemm
        };
        let dyt = pack(rec, &dy_part, part.lhs_size()?)?;
        let lead = [
            count,
            c_out,
            columns,
            positions.div_ceil(TEXEL_FLOATS),
            c_out.div_ceil(BLOCK),
            columns.div_ceil(BLOCK),
            first * c_out * c_in * walk.taps(),
        ];
        let params = product_params(&lead, &walk.params(c_in), [1, 1])?;
        launch(
            rec,
            "conv_taps_wgrad",
            out.dtype,
            [&dyt, &xt],
            &partials,
            &params,
        )?;
    }
    sum_over_images(rec, &partials, &partial_meta, out).map(Some)
}

/// Images `first..first + count` of dy (contiguous NCHW from its offset) as `[count, c_out, positions]`.
fn dy_matrices(
    dy: &Input,
    (first, count): (usize, usize),
    c_out: usize,
    positions: usize,
) -> Layout {
    let image = c_out * positions;
    Layout {
        shape: vec![count, c_out, positions].into(),
        strides: vec![image, positions, 1],
        offset: dy.layout.offset + first * image,
    }
}

/// conv2d_taps.wgsl's Params: the leading seven words, the walk's ten, the two batch steps and padding.
fn product_params(lead: &[usize; 7], walk: &[usize; 10], bsteps: [usize; 2]) -> Result<Vec<u32>> {
    let mut v = lead.to_vec();
    v.extend(walk);
    v.extend(bsteps);
    v.push(0);
    words(OP, &v)
}

fn launch(
    rec: &mut Recorder,
    entry: &'static str,
    dtype: DType,
    [lhs, rhs]: [&Texture; 2],
    output: &Buffer,
    params: &[u32],
) -> Result<()> {
    // params[0] = images, [4] = tiles_m, [5] = tiles_n
    let [images, tiles_m, tiles_n] = [params[0], params[4], params[5]].map(|w| w as usize);
    let groups = word(OP, "workgroups", images * tiles_m * tiles_n)?;
    FAMILY.launch(
        rec,
        Launch {
            op: OP,
            entry,
            dtype,
            bindings: &[
                Bind::Texture(lhs),
                Bind::Texture(rhs),
                Bind::ReadWrite(output),
            ],
            params,
            grid: Grid::Linear(groups),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_check::{download, input, upload, In};
    use crate::testing::texture_backend_or_skip;

    #[test]
    fn chunks_respect_budget_and_layers() {
        let layer = TextureSize {
            width: 4,
            height: 16,
            layers: 1,
        }; // 1 KiB
        let chunks = |n, budget, layers| {
            let b = Batch { n, budget, layers };
            b.chunks(&[layer, layer]).collect::<Vec<_>>()
        };
        assert_eq!(chunks(5, 1 << 20, 2), [(0, 2), (2, 2), (4, 1)]);
        assert_eq!(chunks(5, 4096, 2048), [(0, 2), (2, 2), (4, 1)]);
        assert_eq!(chunks(3, 1, 2048), [(0, 1), (1, 1), (2, 1)]);
        assert_eq!(chunks(3, 1 << 20, 2048), [(0, 3)]);
        assert!(chunks(0, 1 << 20, 2048).is_empty());
    }

    /// Every pass on this path, one image per chunk, against the unfolded products of
    /// [`super::super::conv2d_tex`] (whose values the op table checks against the CPU reference, as it
    /// checks this path's at the full budget): odd channels (not a multiple of the four per texel),
    /// positions not a multiple of the 32-row block, more than one column block, stride, dilation; and
    /// the passes it declines with `None`: an input gradient at a stride over 1 or with padding larger
    /// than a tap's reach, a forward pass or input gradient over fewer than 3 channels.
    #[test]
    fn chunked_passes_match_the_unfolded_products() {
        let Some(gpu) = texture_backend_or_skip() else {
            return;
        };
        let conv = |stride, padding, dilation| Conv2dParams {
            stride,
            padding,
            dilation,
            groups: 1,
        };
        let cases = [
            ([3, 5, 9, 7], [37, 5, 3, 2], conv([1, 1], [1, 1], [1, 1])),
            ([2, 6, 11, 10], [9, 6, 3, 3], conv([2, 1], [1, 2], [1, 2])),
            ([2, 3, 8, 9], [4, 3, 1, 3], conv([1, 1], [1, 0], [1, 1])),
            ([2, 1, 6, 5], [2, 1, 3, 3], conv([1, 1], [1, 1], [1, 1])),
        ];
        for (xs, ws, p) in cases {
            let oh = p.out_size(0, xs[2], ws[2]).expect("fits");
            let ow = p.out_size(1, xs[3], ws[3]).expect("fits");
            let ys = [xs[0], ws[0], oh, ow];
            let d = Dims::new("conv2d", &p, &xs, &ws, &ys).expect("dims");
            let (x, w, dy) = (In::new(1, &xs), In::new(2, &ws), In::new(3, &ys));
            for pass in [Pass::Forward, Pass::BackwardInput, Pass::BackwardWeight] {
                let (a, b, out) = match pass {
                    Pass::Forward => (&x, &w, &ys[..]),
                    Pass::BackwardInput => (&dy, &w, &xs[..]),
                    Pass::BackwardWeight => (&x, &dy, &ws[..]),
                };
                let meta = Meta::new(out.to_vec(), DType::F32);
                let (ab, bb) = (upload(&gpu, a, DType::F32), upload(&gpu, b, DType::F32));
                let (ia, ib) = (input(&ab, a, DType::F32), input(&bb, b, DType::F32));
                let mut rec = Recorder::new(gpu.engine().clone());
                let taps = run_with(&mut rec, (pass, &p, &d), [&ia, &ib], &meta, 1).expect("taps");
                let unfolded = super::super::conv2d_tex::run_unfolded(
                    &mut rec,
                    pass,
                    &p,
                    &d,
                    [&ia, &ib],
                    &meta,
                )
                .expect("unfolded")
                .expect("fits");
                rec.finish().expect("submit");
                let declines = match pass {
                    Pass::Forward => xs[1] < 3,
                    Pass::BackwardInput => p.stride != [1, 1] || ws[2] == 1 || ws[0] < 3,
                    Pass::BackwardWeight => false,
                };
                let Some(taps) = taps else {
                    assert!(declines, "{pass:?} {xs:?} {ws:?} {p:?} declined");
                    continue;
                };
                assert!(!declines, "{pass:?} {xs:?} {ws:?} {p:?} should decline");
                let (got, want) = (
                    download(&gpu, &taps, &meta),
                    download(&gpu, &unfolded, &meta),
                );
                for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                        "{pass:?} {xs:?} {ws:?} {p:?}: element {i}: {g} vs {e}"
                    );
                }
            }
        }
    }
}
