//! Lane-load costs of each kind of memory (the default mode of the lab).

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use wgrad::wgpu::WgpuBackend;

/// Load micro-kernel: each lane does ITERS iterations of 4 loads.
pub(crate) fn load_kernel(kind: &str) -> String {
    let (decl, load) = match kind {
        "divergent" => (
            "@group(0) @binding(0) var<storage, read> src: array<f32>;",
            "src[(i * 64u + lid * 8u + j) & 1048575u]",
        ),
        "uniform" => (
            "@group(0) @binding(0) var<storage, read> src: array<f32>;",
            "src[(i * 64u + wid.x + j) & 1048575u]",
        ),
        "vec4" => (
            "@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;",
            "dot(src[(i * 64u + lid * 8u + j) & 262143u], vec4<f32>(1.0))",
        ),
        "ubo" => (
            "@group(0) @binding(0) var<storage, read> src: array<f32>;",
            "params[(i * 64u + lid * 8u + j) & 2047u].x",
        ),
        "ubo_uniform" => (
            "@group(0) @binding(0) var<storage, read> src: array<f32>;",
            "params[(i * 64u + wid.x + j) & 2047u].x",
        ),
        "shared" => (
            "@group(0) @binding(0) var<storage, read> src: array<f32>;\nvar<workgroup> sh: array<f32, 4096>;",
            "sh[(i * 64u + lid * 8u + j) & 4095u]",
        ),
        "private" => (
            "@group(0) @binding(0) var<storage, read> src: array<f32>;\nvar<private> pr: array<f32, 256>;",
            "pr[(i * 64u + lid * 8u + j) & 255u]",
        ),
        "none" => (
            "@group(0) @binding(0) var<storage, read> src: array<f32>;",
            "f32(i + lid + j)",
        ),
        _ => unreachable!(),
    };
    format!(
        "{decl}
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: array<vec4<f32>, 2048>;
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i < 1024u; i++) {{
        var j = 0u;
        acc.x += {load}; j = 1u;
        acc.y += {load}; j = 2u;
        acc.z += {load}; j = 3u;
        acc.w += {load};
    }}
    out[wid.x * 8u + lid] = acc.x + acc.y + acc.z + acc.w;
}}
"
    )
}

/// textureLoad from an r32float (or rgba32float) texture, raw wgpu on the backend's device.
pub(crate) fn texture_test(gpu: &WgpuBackend, rgba: bool) {
    let dev = &gpu.engine().gpu.device;
    let queue = &gpu.engine().gpu.queue;
    let size = 1024u32;
    let format = if rgba {
        wgpu::TextureFormat::Rgba32Float
    } else {
        wgpu::TextureFormat::R32Float
    };
    let tex = crate::texture_2d(dev, format, size, size);
    let view = tex.create_view(&Default::default());
    let out = dev.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 2048 * 8 * 4,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let (ty, load) = if rgba {
        ("texture_2d<f32>", "dot(textureLoad(t, vec2<u32>((i * 64u + lid * 8u + j) & 1023u, i & 1023u), 0), vec4<f32>(1.0))")
    } else {
        (
            "texture_2d<f32>",
            "textureLoad(t, vec2<u32>((i * 64u + lid * 8u + j) & 1023u, i & 1023u), 0).x",
        )
    };
    let src = format!(
        "@group(0) @binding(0) var t: {ty};
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i < 1024u; i++) {{
        var j = 0u;
        acc.x += {load}; j = 1u;
        acc.y += {load}; j = 2u;
        acc.z += {load}; j = 3u;
        acc.w += {load};
    }}
    out[wid.x * 8u + lid] = acc.x + acc.y + acc.z + acc.w;
}}"
    );
    let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: None,
        source: wgpu::ShaderSource::Wgsl(src.into()),
    });
    let pipe = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let bg = dev.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipe.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(&view),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: out.as_entire_binding(),
            },
        ],
    });
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let mut enc = dev.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipe);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(2048, 1, 1);
        }
        queue.submit([enc.finish()]);
        dev.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    let lane_loads = 2048.0 * 8.0 * 1024.0 * 4.0;
    println!(
        "{:>12}: {:.1} ms, {:.2} ns per lane-load",
        if rgba { "tex_rgba" } else { "tex_r32" },
        best * 1e3,
        best * 1e9 / lane_loads
    );
}
