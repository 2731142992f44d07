//! Shader modules, bind group layouts and compute pipelines, each created once and cached.
//!
//! - one shader module per (file, dtype): the only text edit is the line `alias T = f32;` (plus `enable f16;`
//!   in front for f16), see [`specialize`];
//! - one pipeline per (file, entry, dtype, overrides), labelled with that key, e.g. `unary/exp<f32>{WG=256}`;
//! - one explicit bind group layout per binding signature: the kernel's resources in order (storage buffers
//!   read-only or read-write, textures, storage textures; see [`crate::dispatch::Bind`]), one uniform block
//!   with a dynamic offset, and for checked kernels the engine's device error flag (read-write storage)
//!   after it.
//!
//! Creation runs inside a validation error scope, so a bad shader is an `Error`, not a panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgrad_graph::{DType, Error, Result};

use crate::device::{from_wgpu, Caps};
use crate::dispatch::{Bind, BindKind, Dispatch, Shader};

/// The line every family file that is generic over its element type contains exactly once.
pub const ALIAS_LINE: &str = "alias T = f32;";
/// The optional line declaring the accumulator type of a generic file: `T`, except f32 for f16 (sums of
/// half-precision values accumulate in f32, as PyTorch's do).
pub const ACCUMULATOR_LINE: &str = "alias A = f32;";

/// The WGSL type a dtype is stored as, or why the adapter cannot compute in it.
pub fn wgsl_type(dtype: DType, caps: Option<&Caps>) -> Result<&'static str> {
    let unsupported = |msg: String| Error::Unsupported {
        backend: "wgpu",
        op: "shader",
        msg,
    };
    match dtype {
        DType::F32 => Ok("f32"),
        DType::I32 => Ok("i32"),
        DType::U32 | DType::Bool => Ok("u32"),
        DType::F16 => match caps {
            Some(c) if !c.shader_f16 => Err(unsupported(format!(
                "dtype f16 needs the SHADER_F16 feature, which adapter {} lacks",
                c.adapter_name
            ))),
            _ => Ok("f16"),
        },
        DType::F64 => match caps {
            Some(c) if !c.shader_f64 => Err(unsupported(format!(
                "dtype f64 needs the SHADER_F64 feature, which adapter {} lacks",
                c.adapter_name
            ))),
            _ => Ok("f64"),
        },
        DType::BF16 => Err(unsupported(
            "dtype bf16 compute is not implemented on wgpu (no WGSL bf16 type)".to_string(),
        )),
    }
}

/// Whether the file is generic over its element type: one line that is exactly [`ALIAS_LINE`]
/// (a mention inside a comment does not count).
pub fn is_generic(shader: &Shader) -> bool {
    shader.source.lines().any(|l| l.trim() == ALIAS_LINE)
}

/// The source of `shader` for `dtype`: the alias line substituted (and the accumulator line, see
/// [`ACCUMULATOR_LINE`]), `enable f16;` prepended for f16.
pub fn specialize(shader: &Shader, dtype: DType, caps: Option<&Caps>) -> Result<String> {
    if !is_generic(shader) {
        return Ok(shader.source.to_string());
    }
    let ty = wgsl_type(dtype, caps)?;
    let mut out = String::with_capacity(shader.source.len() + 16);
    if dtype == DType::F16 {
        out.push_str("enable f16;\n");
    }
    let acc = if dtype == DType::F16 { "f32" } else { ty };
    for line in shader.source.lines() {
        if line.trim() == ALIAS_LINE {
            out.push_str(&format!("alias T = {ty};"));
        } else if line.trim() == ACCUMULATOR_LINE {
            out.push_str(&format!("alias A = {acc};"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    Ok(out)
}

/// The readable key of a pipeline, also its label: `unary/exp<f32>{WG=256}`.
pub fn pipeline_label(
    shader: &Shader,
    entry: &str,
    dtype: DType,
    overrides: &[(&str, f64)],
) -> String {
    let ov: Vec<String> = overrides.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}/{entry}<{dtype}>{{{}}}", shader.name, ov.join(","))
}

type PipelineKey = (
    &'static str,
    &'static str,
    DType,
    Vec<(&'static str, u64)>,
    Vec<BindKind>,
    bool,
);

/// All the caches.
#[derive(Debug, Default)]
pub struct Pipelines {
    modules: Mutex<HashMap<(&'static str, DType), wgpu::ShaderModule>>,
    layouts: Mutex<HashMap<(Vec<BindKind>, bool), (wgpu::BindGroupLayout, wgpu::PipelineLayout)>>,
    pipelines: Mutex<HashMap<PipelineKey, (wgpu::ComputePipeline, Arc<str>)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock()
        .expect("cache mutex is never poisoned: no code panics while holding it")
}

impl Pipelines {
    /// Bind group layout (and pipeline layout) for resources of `kinds` at bindings `0..n`, the params at
    /// `n`, plus the device error flag at `n+1` when `error_flag`.
    pub fn layout(
        &self,
        device: &wgpu::Device,
        kinds: &[BindKind],
        error_flag: bool,
    ) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
        let n = kinds.len();
        lock(&self.layouts)
            .entry((kinds.to_vec(), error_flag))
            .or_insert_with(|| {
                let storage = |read_only| wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                };
                let mut entries: Vec<wgpu::BindGroupLayoutEntry> = kinds
                    .iter()
                    .enumerate()
                    .map(|(i, kind)| wgpu::BindGroupLayoutEntry {
                        binding: i as u32,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: match kind {
                            BindKind::Read => storage(true),
                            BindKind::ReadWrite => storage(false),
                            BindKind::Texture => wgpu::BindingType::Texture {
                                sample_type: wgpu::TextureSampleType::Float { filterable: false },
                                view_dimension: wgpu::TextureViewDimension::D2Array,
                                multisampled: false,
                            },
                            BindKind::StorageTexture => wgpu::BindingType::StorageTexture {
                                access: wgpu::StorageTextureAccess::WriteOnly,
                                format: crate::texture::FORMAT,
                                view_dimension: wgpu::TextureViewDimension::D2Array,
                            },
                        },
                        count: None,
                    })
                    .collect();
                entries.push(wgpu::BindGroupLayoutEntry {
                    binding: n as u32,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: true,
                        min_binding_size: None,
                    },
                    count: None,
                });
                if error_flag {
                    entries.push(wgpu::BindGroupLayoutEntry {
                        binding: n as u32 + 1,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: storage(false),
                        count: None,
                    });
                }
                let label = format!("wgrad {kinds:?}, error flag {error_flag}");
                let bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(&label),
                    entries: &entries,
                });
                let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some(&label),
                    bind_group_layouts: &[Some(&bgl)],
                    immediate_size: 0,
                });
                (bgl, pl)
            })
            .clone()
    }

    fn module(
        &self,
        device: &wgpu::Device,
        caps: &Caps,
        shader: &'static Shader,
        dtype: DType,
    ) -> Result<wgpu::ShaderModule> {
        let key = (shader.name, dtype);
        if let Some(m) = lock(&self.modules).get(&key) {
            return Ok(m.clone());
        }
        let source = specialize(shader, dtype, Some(caps))?;
        let label = format!("{}<{dtype}>", shader.name);
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(from_wgpu(&format!("wgpu shader {label}"), e));
        }
        lock(&self.modules).insert(key, module.clone());
        Ok(module)
    }

    /// The pipeline for one (file, entry, dtype, overrides), created on first use, and its label;
    /// `error_flag` picks the layout with the device error flag binding. The hit path (every dispatch) only
    /// builds the key: the label is made once, with the pipeline.
    pub fn pipeline(
        &self,
        device: &wgpu::Device,
        caps: &Caps,
        d: &Dispatch<'_>,
        error_flag: bool,
    ) -> Result<(wgpu::ComputePipeline, Arc<str>)> {
        let (shader, entry, overrides) = (d.shader, d.entry, d.overrides);
        let kinds: Vec<BindKind> = d.bindings.iter().map(Bind::kind).collect();
        let key: PipelineKey = (
            shader.name,
            entry,
            d.dtype,
            overrides.iter().map(|&(k, v)| (k, v.to_bits())).collect(),
            kinds.clone(),
            error_flag,
        );
        if let Some(p) = lock(&self.pipelines).get(&key) {
            return Ok(p.clone());
        }
        // a file without the alias line compiles the same for every dtype
        let dtype = if is_generic(shader) {
            d.dtype
        } else {
            DType::F32
        };
        let module = self.module(device, caps, shader, dtype)?;
        let (_, layout) = self.layout(device, &kinds, error_flag);
        let label = pipeline_label(shader, entry, dtype, overrides);
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: overrides,
                ..Default::default()
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(from_wgpu(&format!("wgpu pipeline {label}"), e));
        }
        let entry = (pipeline, Arc::from(label));
        lock(&self.pipelines).insert(key, entry.clone());
        Ok(entry)
    }
}
