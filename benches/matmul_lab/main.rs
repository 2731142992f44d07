//! Matmul lab: the measurements behind the choice of matmul kernel on software adapters (BENCHMARKS.md,
//! "Matmul on lavapipe"). Not one of the fixed workloads; run one mode at a time:
//!
//! - `cargo bench --bench matmul_lab`: cost of one lane-load of each kind of memory (storage buffer with
//!   divergent / uniform address, `array<vec4<f32>>`, uniform buffer, workgroup memory, private array,
//!   r32float and rgba32float textures) in a loop of 4096 loads per invocation;
//! - `-- variants`: the library's kernels (`matmul_with`) at n = 256, 512, 1024, result read back;
//! - `-- mm` (env `LAB_CFGS="4,1 8,1"`): `matmul_sg` generalised to (8·ra) x (32·cb) subgroup tiles;
//! - `-- tex` (env `LAB_TEX="4,1 2,2"`): prototype with both operands staged in rgba32float textures and
//!   a (8·ra) x (32·cb) subgroup tile (raw wgpu on the backend's device; kernel time only, operands
//!   written once);
//! - `-- w2`: W2's five large products on `matmul_tex`, packs included;
//! - `-- copy`: staging a 512x512 operand by `copy_buffer_to_texture` against the `pack_rgba4` kernel.
//!
//! On Mesa 22.3 llvmpipe every storage-buffer and workgroup-memory load runs lane by lane, while uniform
//! buffers, private arrays and textures are gathered with SIMD; see BENCHMARKS.md for the numbers.
#![allow(clippy::unwrap_used)]

mod loads;
mod prototypes;

use std::time::Instant;

use wgrad::graph::{Backend, Buffer, DType, Layout, Meta, View};
use wgrad::wgpu::dispatch::{Bind, Dispatch, Grid, Shader};
use wgrad::wgpu::engine::Recorder;
use wgrad::wgpu::WgpuBackend;

pub(crate) fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

pub(crate) fn shader(name: &str, src: String) -> &'static Shader {
    Box::leak(Box::new(Shader {
        name: leak(name.to_string()),
        source: leak(src),
    }))
}

/// A 2-D texture of `format` to sample from and copy into.
pub(crate) fn texture_2d(
    dev: &wgpu::Device,
    format: wgpu::TextureFormat,
    width: u32,
    height: u32,
) -> wgpu::Texture {
    dev.create_texture(&wgpu::TextureDescriptor {
        label: None,
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    })
}

pub(crate) fn upload(gpu: &WgpuBackend, data: &[f32]) -> Buffer {
    let meta = Meta::new(vec![data.len()], DType::F32);
    gpu.upload(&bytemuck_cast(data), &meta).unwrap()
}

pub(crate) fn bytemuck_cast(d: &[f32]) -> Vec<u8> {
    d.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

pub(crate) fn download(gpu: &WgpuBackend, b: &Buffer, n: usize) -> Vec<f32> {
    let view = View {
        buffer: b.clone(),
        layout: Layout::contiguous(vec![n].into()),
        dtype: DType::F32,
    };
    gpu.download(&view)
        .unwrap()
        .chunks(4)
        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    gpu: &WgpuBackend,
    sh: &'static Shader,
    entry: &'static str,
    inputs: &[&Buffer],
    out_n: usize,
    params: &[u32],
    grid: Grid,
    reps: usize,
) -> (f64, Vec<f32>) {
    let mut best = f64::MAX;
    let mut last = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        let mut rec = Recorder::new(gpu.engine().clone());
        let out = rec.output(&Meta::new(vec![out_n], DType::F32)).unwrap();
        rec.dispatch(Dispatch {
            shader: sh,
            entry,
            dtype: DType::F32,
            overrides: &[],
            bindings: &Bind::io(inputs, &out),
            params,
            grid,
        })
        .unwrap();
        rec.finish().unwrap();
        last = download(gpu, &out, out_n);
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, last)
}

/// The library's kernels (`matmul_with`), strided operands as the tests use them, result read back.
fn variants(gpu: &WgpuBackend, n: usize) {
    use wgrad::graph::Input;
    use wgrad::wgpu::kernels::matmul::{matmul_with, Variant};
    let a: Vec<f32> = (0..n * n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let (ab, bb) = (upload(gpu, &a), upload(gpu, &a));
    let layout = Layout::contiguous(vec![1, n, n].into());
    let out = Meta::new(vec![1, n, n], DType::F32);
    for v in Variant::ALL {
        if !wgrad::wgpu::kernels::matmul::available(gpu.caps(), v) {
            continue;
        }
        let mut best = f64::MAX;
        for _ in 0..4 {
            let t = Instant::now();
            let mut rec = Recorder::new(gpu.engine().clone());
            let inp = |b| Input {
                buffer: b,
                layout: &layout,
                dtype: DType::F32,
            };
            let c = matmul_with(&mut rec, v, inp(&ab), inp(&bb), &out).unwrap();
            rec.finish().unwrap();
            download(gpu, &c, n * n);
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{:>14} n={n}: {:.2} GFLOP/s ({:.1} ms incl. readback)",
            v.entry(),
            2.0 * (n as f64).powi(3) / best / 1e9,
            best * 1e3
        );
    }
}

/// W2's five large products on `matmul_tex` (packs included, no read back): the forward layers `x·Wᵀ`
/// (transposed rhs), the weight gradients `gᵀ·x` (transposed lhs) and an input gradient `g·W`.
fn w2_shapes(gpu: &WgpuBackend) {
    use wgrad::graph::Input;
    use wgrad::wgpu::kernels::matmul::{matmul_with, Variant};
    let transposed = |rows: usize, cols: usize| Layout {
        shape: vec![1, rows, cols].into(),
        strides: vec![0, 1, rows],
        offset: 0,
    };
    let plain = |rows: usize, cols: usize| Layout::contiguous(vec![1, rows, cols].into());
    let cases = [
        (128, 784, 512, false, true),
        (128, 512, 512, false, true),
        (512, 128, 784, true, false),
        (512, 128, 512, true, false),
        (128, 512, 512, false, false),
    ];
    // the first pass warms up (the first case measured up to 2x slower than in the second)
    for (pass, (m, k, n, lhs_t, rhs_t)) in [0, 1].into_iter().flat_map(|p| cases.map(|c| (p, c))) {
        let a = upload(gpu, &vec![0.5f32; m * k]);
        let b = upload(gpu, &vec![0.25f32; k * n]);
        let la = if lhs_t { transposed(m, k) } else { plain(m, k) };
        let lb = if rhs_t { transposed(k, n) } else { plain(k, n) };
        let out = Meta::new(vec![1, m, n], DType::F32);
        let mut best = f64::MAX;
        for _ in 0..20 {
            let t = Instant::now();
            let mut rec = Recorder::new(gpu.engine().clone());
            let inp = |buffer, layout| Input {
                buffer,
                layout,
                dtype: DType::F32,
            };
            matmul_with(&mut rec, Variant::Texture, inp(&a, &la), inp(&b, &lb), &out).unwrap();
            rec.finish().unwrap();
            let _ = gpu
                .engine()
                .gpu
                .device
                .poll(wgpu::PollType::wait_indefinitely());
            best = best.min(t.elapsed().as_secs_f64());
        }
        if pass == 0 {
            continue;
        }
        let tag = |t: bool| if t { "ᵀ" } else { "" };
        println!(
            "[{m}, {k}]{} x [{k}, {n}]{}: {:.3} ms, {:.1} GFLOP/s",
            tag(lhs_t),
            tag(rhs_t),
            best * 1e3,
            2.0 * (m * n * k) as f64 / best / 1e9
        );
    }
}

/// What staging a 512x512 operand costs: `copy_buffer_to_texture` (a memcpy on lavapipe; needs 256-byte row
/// pitches) against the `pack_rgba4` kernel (a lane-by-lane storage load per texel), each submitted and
/// waited for alone.
fn copy_probe(gpu: &WgpuBackend) {
    let dev = &gpu.engine().gpu.device;
    let queue = &gpu.engine().gpu.queue;
    let (rows, cols) = (512usize, 512usize);
    let src = upload(gpu, &vec![0.5f32; rows * cols]);
    let raw = wgrad::wgpu::engine::gpu_buffer("probe", &src)
        .unwrap()
        .raw()
        .clone();
    let tex = texture_2d(
        dev,
        wgpu::TextureFormat::Rgba32Float,
        (cols / 4) as u32 + 1,
        rows as u32,
    );
    let mut best = f64::MAX;
    for _ in 0..20 {
        let t = Instant::now();
        let mut enc = dev.create_command_encoder(&Default::default());
        enc.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: &raw,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some((cols * 4) as u32),
                    rows_per_image: None,
                },
            },
            tex.as_image_copy(),
            wgpu::Extent3d {
                width: (cols / 4) as u32,
                height: rows as u32,
                depth_or_array_layers: 1,
            },
        );
        queue.submit([enc.finish()]);
        let _ = dev.poll(wgpu::PollType::wait_indefinitely());
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("copy 512x512 f32 into rgba32f: {:.3} ms", best * 1e3);
    let layout = Layout::contiguous(vec![1, rows, cols].into());
    let size = wgrad::wgpu::texture::Size {
        width: (cols / 4) as u32 + 1,
        height: rows as u32,
        layers: 1,
    };
    let mut best = f64::MAX;
    for _ in 0..20 {
        let t = Instant::now();
        let mut rec = Recorder::new(gpu.engine().clone());
        let inp = wgrad::graph::Input {
            buffer: &src,
            layout: &layout,
            dtype: DType::F32,
        };
        let _tex = wgrad::wgpu::kernels::matmul_tex::pack(&mut rec, &inp, size).unwrap();
        rec.finish().unwrap();
        let _ = dev.poll(wgpu::PollType::wait_indefinitely());
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("pack_rgba4 512x512: {:.3} ms", best * 1e3);
}

fn main() {
    let gpu = WgpuBackend::new().unwrap();
    if std::env::args().any(|a| a == "copy") {
        copy_probe(&gpu);
        return;
    }
    if std::env::args().any(|a| a == "w2") {
        w2_shapes(&gpu);
        return;
    }
    eprintln!("adapter: {}", gpu.name());
    if std::env::args().any(|a| a == "mm") {
        let cfgs: Vec<(usize, usize)> = std::env::var("LAB_CFGS")
            .unwrap_or("4,1 8,1 4,2 8,2".into())
            .split_whitespace()
            .map(|p| {
                let mut it = p.split(',').map(|x| x.parse().unwrap());
                (it.next().unwrap(), it.next().unwrap())
            })
            .collect();
        prototypes::matmul_lab(&gpu, 1024, &cfgs);
        return;
    }
    if std::env::args().any(|a| a == "variants") {
        for n in [256, 512, 1024] {
            variants(&gpu, n);
        }
        return;
    }
    if std::env::args().any(|a| a == "tex") {
        let cfgs = std::env::var("LAB_TEX").unwrap_or("4,1".into());
        for p in cfgs.split_whitespace() {
            let mut it = p.split(',').map(|x| x.parse().unwrap());
            let (ra, cb) = (it.next().unwrap(), it.next().unwrap());
            prototypes::texture_matmul(&gpu, 1024, ra, cb);
        }
        return;
    }
    let src = upload(&gpu, &vec![1.0f32; 1 << 20]);
    let params: Vec<u32> = (0..8192).map(|i| (i as f32).to_bits()).collect();
    let wgs = 2048u32;
    for kind in [
        "none",
        "divergent",
        "uniform",
        "vec4",
        "ubo",
        "ubo_uniform",
        "shared",
        "private",
    ] {
        let sh = shader(&format!("lab_{kind}"), loads::load_kernel(kind));
        let (t, _) = run(
            &gpu,
            sh,
            "main",
            &[&src],
            wgs as usize * 8,
            &params,
            Grid::Linear(wgs),
            5,
        );
        let lane_loads = wgs as f64 * 8.0 * 1024.0 * 4.0;
        println!(
            "{kind:>12}: {:.1} ms, {:.2} ns per lane-load ({:.1} G lane-loads/s)",
            t * 1e3,
            t * 1e9 / lane_loads,
            lane_loads / t / 1e9
        );
    }
    loads::texture_test(&gpu, false);
    loads::texture_test(&gpu, true);
}
