//! Kernel prototypes measured before `matmul_tex` was written: generalised subgroup tiles (`-- mm`) and
//! both operands in textures (`-- tex`).

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use wgrad::wgpu::dispatch::Grid;
use wgrad::wgpu::WgpuBackend;

use crate::{bytemuck_cast, run, shader, upload};

/// matmul_sg generalised: subgroup tile (8·ra) rows x (32·cb) columns; lane keeps 8·ra x 4·cb outputs.
fn gen_sg(ra: usize, cb: usize) -> String {
    let base = include_str!("../../crates/wgrad-wgpu/shaders/matmul_sg.wgsl");
    let head = &base[..base.find("@compute").unwrap()];
    let (rows, cols) = (8 * ra, 32 * cb);
    let mut b = String::from(head);
    b += "@compute @workgroup_size(8)\nfn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {\n";
    b += "    let t = tile_of(wid, nwg);\n    if t.x >= params.batch { return; }\n";
    b += &format!(
        "    let row0 = t.y * {rows}u;\n    let col0 = t.z * {cols}u + lane * {}u;\n",
        4 * cb
    );
    b += "    let m1 = params.m - 1u;\n    let n1 = params.n - 1u;\n";
    b += "    let a_base = params.lhs_off + t.x * params.lhs_sb;\n    let b_base = params.rhs_off + t.x * params.rhs_sb;\n";
    for q in 0..ra {
        b += &format!(
            "    let ar{q} = a_base + min(row0 + {}u + lane, m1) * params.lhs_sm;\n",
            8 * q
        );
    }
    for c in 0..4 * cb {
        b += &format!("    let bc{c} = b_base + min(col0 + {c}u, n1) * params.rhs_sn;\n");
    }
    for r in 0..rows {
        for c in 0..cb {
            b += &format!("    var acc{r}_{c} = vec4<f32>(0.0);\n");
        }
    }
    b += "    for (var kk = 0u; kk < params.k; kk++) {\n        let ka = kk * params.lhs_sk;\n        let kb = kk * params.rhs_sk;\n";
    for c in 0..cb {
        b += &format!(
            "        let bv{c} = vec4<f32>(f32(rhs[bc{} + kb]), f32(rhs[bc{} + kb]), f32(rhs[bc{} + kb]), f32(rhs[bc{} + kb]));\n",
            4 * c, 4 * c + 1, 4 * c + 2, 4 * c + 3
        );
    }
    for q in 0..ra {
        b += &format!("        let a{q} = f32(lhs[ar{q} + ka]);\n");
    }
    for r in 0..rows {
        b += &format!(
            "        let s{r} = vec4<f32>(subgroupBroadcast(a{}, {}u));\n",
            r / 8,
            r % 8
        );
        for c in 0..cb {
            b += &format!("        acc{r}_{c} = fma(s{r}, bv{c}, acc{r}_{c});\n");
        }
    }
    b += "    }\n";
    for r in 0..rows {
        for c in 0..cb {
            b += &format!(
                "    store_row(t.x, row0 + {r}u, col0 + {}u, acc{r}_{c});\n",
                4 * c
            );
        }
    }
    b += "}\n";
    b
}

fn matmul_params(n: usize, tr: usize, tc: usize) -> Vec<u32> {
    let n32 = n as u32;
    let (tm, tn) = (n.div_ceil(tr) as u32, n.div_ceil(tc) as u32);
    vec![
        1,
        n32,
        n32,
        n32,
        n32 * n32,
        n32,
        1,
        0,
        n32 * n32,
        n32,
        1,
        0,
        tm,
        tn,
    ]
}

pub(crate) fn matmul_lab(gpu: &WgpuBackend, n: usize, configs: &[(usize, usize)]) {
    let a: Vec<f32> = (0..n * n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let bm: Vec<f32> = (0..n * n)
        .map(|i| ((i * 104729) % 997) as f32 / 997.0 - 0.5)
        .collect();
    let (ab, bb) = (upload(gpu, &a), upload(gpu, &bm));
    let flop = 2.0 * (n as f64).powi(3);
    let mut reference: Option<Vec<f32>> = None;
    for &(ra, cb) in configs {
        let sh = shader(&format!("lab_sg_{ra}_{cb}"), gen_sg(ra, cb));
        let (tr, tc) = (8 * ra, 32 * cb);
        let params = matmul_params(n, tr, tc);
        let groups = (n.div_ceil(tr) * n.div_ceil(tc)) as u32;
        let t0 = Instant::now();
        let (t, out) = run(
            gpu,
            sh,
            "main",
            &[&ab, &bb],
            n * n,
            &params,
            Grid::Linear(groups),
            4,
        );
        let compile = t0.elapsed().as_secs_f64() - 4.0 * t;
        let err = match &reference {
            None => {
                reference = Some(out);
                0.0
            }
            Some(r) => r
                .iter()
                .zip(&out)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max),
        };
        println!(
            "sg tile {tr}x{tc} (lane {}x{}) n={n}: {:.2} GFLOP/s ({:.1} ms), max diff {err:e}, first run +{:.2} s",
            tr,
            4 * cb,
            flop / t / 1e9,
            t * 1e3,
            compile.max(0.0)
        );
    }
}

/// The prototype's kernel: a (8·ra) x (32·cb) subgroup tile; lane l loads lhs rows l + 8q (q < ra) and rhs
/// texels c4 + 8c (c < cb), and keeps 8·ra x cb vec4 accumulators.
fn texture_tile_source(n: usize, ra: usize, cb: usize) -> String {
    let mut src = String::from("@group(0) @binding(0) var ta: texture_2d<f32>;\n@group(0) @binding(1) var tb: texture_2d<f32>;\n@group(0) @binding(2) var<storage, read_write> out: array<f32>;\n");
    src += &format!("@compute @workgroup_size(8)\nfn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {{\n    let row0 = wid.y * {}u;\n    let c4 = wid.x * {}u + lane;\n", 8 * ra, 8 * cb);
    for r in 0..8 * ra {
        for c in 0..cb {
            src += &format!("    var acc{r}_{c} = vec4<f32>(0.0);\n");
        }
    }
    src += &format!("    for (var k4 = 0u; k4 < {}u; k4++) {{\n", n / 4);
    for q in 0..ra {
        src += &format!(
            "        let a{q} = textureLoad(ta, vec2<u32>(k4, row0 + {}u + lane), 0);\n",
            8 * q
        );
    }
    let comp = ["x", "y", "z", "w"];
    for (j, comp) in comp.iter().enumerate() {
        for c in 0..cb {
            src += &format!(
                "        let b{j}_{c} = textureLoad(tb, vec2<u32>(c4 + {}u, k4 * 4u + {j}u), 0);\n",
                8 * c
            );
        }
        for r in 0..8 * ra {
            src += &format!(
                "        {{ let s = vec4<f32>(subgroupBroadcast(a{}.{}, {}u));\n",
                r / 8,
                comp,
                r % 8
            );
            for c in 0..cb {
                src += &format!("        acc{r}_{c} = fma(s, b{j}_{c}, acc{r}_{c});\n");
            }
            src += "        }\n";
        }
    }
    src += "    }\n";
    for r in 0..8 * ra {
        for c in 0..cb {
            src += &format!(
                "    {{ let o = (row0 + {r}u) * {n}u + (c4 + {}u) * 4u; out[o] = acc{r}_{c}.x; out[o + 1u] = acc{r}_{c}.y; out[o + 2u] = acc{r}_{c}.z; out[o + 3u] = acc{r}_{c}.w; }}\n",
                8 * c
            );
        }
    }
    src += "}\n";
    src
}

/// Prototype: operands staged in rgba32float textures (4 consecutive k of a lhs row, 4 consecutive columns
/// of a rhs row per texel), (8·ra) x (32·cb) subgroup tile. n multiple of the tile, no edges. Raw wgpu.
pub(crate) fn texture_matmul(gpu: &WgpuBackend, n: usize, ra: usize, cb: usize) {
    let dev = &gpu.engine().gpu.device;
    let queue = &gpu.engine().gpu.queue;
    let a: Vec<f32> = (0..n * n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let bm: Vec<f32> = (0..n * n)
        .map(|i| ((i * 104729) % 997) as f32 / 997.0 - 0.5)
        .collect();
    let mk = |data: &[f32]| {
        let tex = crate::texture_2d(
            dev,
            wgpu::TextureFormat::Rgba32Float,
            (n / 4) as u32,
            n as u32,
        );
        queue.write_texture(
            tex.as_image_copy(),
            &bytemuck_cast(data),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some((n * 4) as u32),
                rows_per_image: None,
            },
            wgpu::Extent3d {
                width: (n / 4) as u32,
                height: n as u32,
                depth_or_array_layers: 1,
            },
        );
        tex.create_view(&Default::default())
    };
    let (ta, tb) = (mk(&a), mk(&bm));
    let out = dev.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: (n * n * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let src = texture_tile_source(n, ra, cb);
    let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: None,
        source: wgpu::ShaderSource::Wgsl(src.into()),
    });
    let t0 = Instant::now();
    let pipe = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let compile = t0.elapsed().as_secs_f64();
    let bg = dev.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipe.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(&ta),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::TextureView(&tb),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: out.as_entire_binding(),
            },
        ],
    });
    let mut best = f64::MAX;
    for _ in 0..4 {
        let t = Instant::now();
        let mut enc = dev.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipe);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups((n / (32 * cb)) as u32, (n / (8 * ra)) as u32, 1);
        }
        queue.submit([enc.finish()]);
        dev.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    // check a few entries against f64
    let out_buf = {
        let st = dev.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: (n * n * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = dev.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&out, 0, &st, 0, (n * n * 4) as u64);
        queue.submit([enc.finish()]);
        st.slice(..).map_async(wgpu::MapMode::Read, |_| {});
        dev.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        let v: Vec<f32> = st
            .slice(..)
            .get_mapped_range()
            .unwrap()
            .chunks(4)
            .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        v
    };
    let mut err = 0.0f64;
    for &(i, j) in &[(0, 0), (5, 77), (n - 1, n - 1), (300 % n, 17)] {
        let want: f64 = (0..n)
            .map(|k| a[i * n + k] as f64 * bm[k * n + j] as f64)
            .sum();
        err = err.max((want - out_buf[i * n + j] as f64).abs());
    }
    println!(
        "texture sg {}x{} n={n}: {:.2} GFLOP/s ({:.1} ms kernel only), compile {:.2} s, max err {err:e}",
        8 * ra,
        32 * cb,
        2.0 * (n as f64).powi(3) / best / 1e9,
        best * 1e3,
        compile
    );
}
