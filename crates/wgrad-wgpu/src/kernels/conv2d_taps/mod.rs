//! Convolutions whose unfolded operand is never stored (`shaders/conv2d_taps.wgsl`,
//! `shaders/conv2d_taps_pack.wgsl`), the first choice on software adapters where [`super::matmul_tex`] runs.
//!
//! [`super::conv2d_tex`] writes the unfolded input (kh·kw copies of the activation) into a texture before
//! its product; on llvmpipe every value of that pass costs a storage load issued lane by lane, and the packs
//! took more than half of a W3 step. Here the activation is copied once, channels-last and zero-padded
//! (`nhwc`: four channels of one pixel per texel), and the product reads the taps of each position from it
//! directly, with k ordered (tap, channel):
//! - forward: `y[n]ᵀ [oh·ow, c_out] = cols(x[n]) [oh·ow, K] · Wt [K, c_out]`, stored transposed (NCHW);
//! - input gradient: the same product over `dy` padded by `(k - 1)·d - p` with the taps of W flipped and
//!   its two channel dims swapped (a full correlation), columns c_in; at a stride over 1, one product per
//!   phase of the output over that phase's sub-kernel (`walk.rs`);
//! - weight gradient: `dW[n] [c_out, (tap, c_in)] = dy[n] [c_out, oh·ow] · cols(x[n])` per image, then the
//!   tree sum over images that [`super::conv2d_tex`] uses, for the same accuracy reason.
//!
//! `run` returns `None` (nothing recorded) where this path does not apply (see `walk::plan`: some input
//! gradients, and passes over fewer than 3 channels, which are slower here than unfolded), or where its
//! textures would pass the adapter's limits.

use wgrad_graph::{Buffer, Conv2dParams, DType, Input, Layout, Meta, Result};

mod walk;

use walk::{plan, Canvas, Sweep};

use super::conv2d_tex::{batch_slice, sum_over_images, Batch, STAGING_BUDGET};
use super::conv_geometry::{Dims, Pass};
use super::matmul_tex::{pack, unaliased, TexGemm, PACK_WG};
use super::{word, words};
use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, Family, Launch, FLOATS, WG256};
use crate::texture::{Size as TextureSize, Texture, TEXEL_FLOATS};

/// The pack kernels (portable: no subgroups).
pub static PACK: Family = Family {
    shader: Shader {
        name: "conv2d_taps_pack",
        source: include_str!("../../../shaders/conv2d_taps_pack.wgsl"),
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
            include_str!("../../../shaders/tex_tile.wgsl"),
            include_str!("../../../shaders/conv2d_taps.wgsl")
        ),
    },
    entries: entries!(FLOATS, &[]; "conv_taps" "conv_taps_wgrad"),
    features: wgpu::Features::SUBGROUP,
    checked: false,
};

/// Rows and columns of the output block one subgroup computes.
const BLOCK: usize = 32;

/// One layer of the canvas texture (a texel wider where 8 positions would otherwise be 4 KiB apart: the
/// tile reads rows 8 positions apart, see [`unaliased`]).
fn layer(canvas: &Canvas) -> Result<TextureSize> {
    let c4s = canvas.c.div_ceil(TEXEL_FLOATS);
    let width = if c4s.is_multiple_of(32) { c4s + 1 } else { c4s };
    size(width, canvas.hp * canvas.wp, 1)
}

/// Packs images `first..first + count` of `a` (contiguous NCHW from its offset) onto the canvas.
fn pack_canvas(
    rec: &mut Recorder,
    canvas: &Canvas,
    a: &Input,
    (first, count): (usize, usize),
) -> Result<Texture> {
    let layout = batch_slice(a, first, count);
    let size = TextureSize {
        layers: word(OP, "texture layers", count)?,
        ..layer(canvas)?
    };
    let c = canvas;
    let v = [c.c, c.h, c.w, c.wp, c.pad[0], c.pad[1]];
    pack_with(
        rec,
        "nhwc",
        (a.buffer, a.dtype, layout.offset),
        size,
        v,
        [0; 12],
    )
}

/// The weight taps of `sweep` as the `[K, columns]` rhs of `conv_taps`: `w` is `[a, b, kh, kw]`.
fn pack_weight(
    rec: &mut Recorder,
    (canvas, sweep): (&Canvas, &Sweep),
    w: &Input,
    size: TextureSize,
) -> Result<Texture> {
    let ws = w.layout.shape.dims();
    let weight = [
        ws[0],
        ws[1],
        ws[2],
        ws[3],
        canvas.c.div_ceil(TEXEL_FLOATS),
        usize::from(sweep.flip),
        sweep.taps[0],
        sweep.taps[1],
        sweep.w_first[0],
        sweep.w_first[1],
        sweep.w_step[0],
        sweep.w_step[1],
    ];
    let src = (w.buffer, w.dtype, w.layout.offset);
    pack_with(rec, "weight_taps", src, size, [0; 6], weight)
}

/// The words of conv2d_taps.wgsl's Params after the leading seven: how `sweep` reads `canvas`, where it
/// writes, and the real `channels` of the wgrad columns.
fn sweep_words(canvas: &Canvas, sweep: &Sweep, channels: usize) -> [usize; 21] {
    let wp = canvas.wp;
    [
        canvas.c.div_ceil(TEXEL_FLOATS),
        sweep.taps[0],
        sweep.taps[1],
        sweep.tap_step[0] * wp,
        sweep.tap_step[1],
        sweep.grid[1],
        sweep.positions(),
        sweep.pos_step[0] * wp,
        sweep.pos_step[1],
        channels,
        // batch steps: filled in by the caller
        0,
        0,
        sweep.origin[0] * wp + sweep.origin[1],
        sweep.out_size[0] * sweep.out_size[1],
        sweep.out_size[1],
        sweep.first[0],
        sweep.first[1],
        sweep.step[0],
        sweep.step[1],
        0,
        0,
    ]
}

const OP: &str = "conv2d";

fn size(width: usize, height: usize, layers: usize) -> Result<TextureSize> {
    Ok(TextureSize {
        width: word(OP, "texture width", width)?,
        height: word(OP, "texture height", height)?,
        layers: word(OP, "texture layers", layers)?,
    })
}

/// Runs pack entry `entry` over `src` (buffer, dtype, element offset) into a fresh texture of `size`;
/// `nhwc` and `weight` are the words of the two halves of conv2d_taps_pack.wgsl's Params.
fn pack_with(
    rec: &mut Recorder,
    entry: &'static str,
    (src, dtype, offset): (&Buffer, DType, usize),
    size: TextureSize,
    nhwc: [usize; 6],
    weight: [usize; 12],
) -> Result<Texture> {
    let texture = rec.texture(entry, size)?;
    let texels = size.width as usize * size.height as usize * size.layers as usize;
    let mut v = vec![texels, size.width as usize, size.height as usize, offset];
    v.extend(nhwc);
    v.extend(weight);
    v.extend([0, 0]);
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
    let Some((canvas, sweeps)) = plan(pass, p, d) else {
        return Ok(None);
    };
    let [n, c_in, _, _, c_out, ..] = d.0;
    let batch = Batch::new(rec, n, budget);
    let plan = (&canvas, &sweeps[..]);
    match pass {
        Pass::Forward => forward(rec, plan, batch, (a, b), c_out, out),
        Pass::BackwardInput => forward(rec, plan, batch, (a, b), c_in, out),
        Pass::BackwardWeight => weight_gradient(rec, plan, batch, (a, b), (c_in, c_out), out),
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

/// `conv_taps`: every sweep of the activation `act` (x, or dy for the input gradient) against weight `w`,
/// `columns` output channels.
fn forward(
    rec: &mut Recorder,
    (canvas, sweeps): (&Canvas, &[Sweep]),
    batch: Batch,
    (act, w): (&Input, &Input),
    columns: usize,
    out: &Meta,
) -> Result<Option<Buffer>> {
    let tiles_n = columns.div_ceil(BLOCK);
    let c4s = canvas.c.div_ceil(TEXEL_FLOATS);
    let width = unaliased(tiles_n * BLOCK / TEXEL_FLOATS);
    let wt_size = |s: &Sweep| size(width, s.tap_count() * c4s * 4, 1);
    let mut sizes = vec![layer(canvas)?];
    for s in sweeps {
        sizes.push(wt_size(s)?);
    }
    if !fits(rec, &sizes) {
        return Ok(None);
    }
    let mut weights = Vec::new();
    for s in sweeps {
        weights.push(pack_weight(rec, (canvas, s), w, wt_size(s)?)?);
    }
    let output = rec.output(out)?;
    let image = out.numel() / batch.n.max(1);
    for (first, count) in batch.chunks(&[layer(canvas)?]) {
        let x = pack_canvas(rec, canvas, act, (first, count))?;
        for (s, wt) in sweeps.iter().zip(&weights) {
            let positions = s.positions();
            let lead = [
                count,
                positions,
                columns,
                s.tap_count() * c4s,
                positions.div_ceil(BLOCK),
                tiles_n,
                first * image,
            ];
            let params = product_params(&lead, sweep_words(canvas, s, columns), [1, 0])?;
            launch(rec, "conv_taps", out.dtype, [&x, wt], &output, &params)?;
        }
    }
    Ok(Some(output))
}

/// `conv_taps_wgrad` per image, then the sum over images.
fn weight_gradient(
    rec: &mut Recorder,
    (canvas, sweeps): (&Canvas, &[Sweep]),
    batch: Batch,
    (x, dy): (&Input, &Input),
    (c_in, c_out): (usize, usize),
    out: &Meta,
) -> Result<Option<Buffer>> {
    let sweep = &sweeps[0];
    let positions = sweep.positions();
    let taps = sweep.tap_count();
    let columns = taps * canvas.c.div_ceil(TEXEL_FLOATS) * TEXEL_FLOATS;
    // dy[n] as the lhs [c_out, positions] of a product with k = positions
    let gemm = TexGemm {
        batch: 1,
        m: c_out,
        n: columns,
        k: positions,
        lhs_broadcast: false,
        rhs_broadcast: false,
    };
    let per_image = [layer(canvas)?, gemm.lhs_size()?];
    if !fits(rec, &per_image) {
        return Ok(None);
    }
    let partial_meta = Meta::new(vec![batch.n, c_out, c_in * taps], out.dtype);
    let partials = rec.output(&partial_meta)?;
    for (first, count) in batch.chunks(&per_image) {
        let xt = pack_canvas(rec, canvas, x, (first, count))?;
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
            first * c_out * c_in * taps,
        ];
        let params = product_params(&lead, sweep_words(canvas, sweep, c_in), [1, 1])?;
        let textures = [&dyt, &xt];
        launch(
            rec,
            "conv_taps_wgrad",
            out.dtype,
            textures,
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

/// conv2d_taps.wgsl's Params: the leading seven words, then the sweep's with the two batch steps.
fn product_params(lead: &[usize; 7], sweep: [usize; 21], bsteps: [usize; 2]) -> Result<Vec<u32>> {
    let mut v = lead.to_vec();
    v.extend(sweep);
    // the batch steps' slots in the sweep's words
    v[7 + 10] = bsteps[0];
    v[7 + 11] = bsteps[1];
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
            // strided input gradients, one sweep per phase: a DCGAN block (k 4, s 2, p 1), unequal
            // strides, and a row no output reads (x 10 tall, oh = 4 at stride 2: dx row 9 is 0)
            ([2, 6, 8, 8], [5, 6, 4, 4], conv([2, 2], [1, 1], [1, 1])),
            ([1, 4, 10, 11], [5, 4, 4, 3], conv([2, 3], [1, 0], [1, 1])),
            ([1, 3, 10, 9], [4, 3, 3, 3], conv([2, 2], [0, 0], [1, 1])),
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
                let unfolded =
                    super::super::conv2d_tex::run(&mut rec, pass, &p, &d, [&ia, &ib], &meta)
                        .expect("unfolded")
                        .expect("fits");
                rec.finish().expect("submit");
                let strided = p.stride != [1, 1];
                let declines = match pass {
                    Pass::Forward => xs[1] < 3,
                    Pass::BackwardInput if strided => {
                        p.dilation != [1, 1] || ws[2] < p.stride[0] || ws[3] < p.stride[1]
                    }
                    Pass::BackwardInput => ws[2] == 1 || ws[0] < 3,
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
