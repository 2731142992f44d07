//! Parses and validates every WGSL file and every instantiated variant with naga (no GPU needed).
//!
//! Each variant is the file with its `alias T` line substituted for the dtype, validated with the
//! capabilities that dtype needs, then its overrides applied with `naga::back::pipeline_constants::
//! process_overrides` for the variant's entry point and validated again, as wgpu does at pipeline creation.

use naga::valid::{Capabilities, ValidationFlags, Validator};
use wgrad_graph::DType;
use wgrad_wgpu::engine::Shader;
use wgrad_wgpu::kernels::{families, subgroup_families};
use wgrad_wgpu::pipeline::specialize;

fn caps_for(dtype: DType) -> Capabilities {
    // unpack2x16float (f16 casts) needs SHADER_FLOAT16_IN_FLOAT32, which wgpu grants on Vulkan, Metal and
    // DX12 (downlevel flag SHADER_F16_IN_F32).
    let mut c = Capabilities::default() | Capabilities::SHADER_FLOAT16_IN_FLOAT32;
    if dtype == DType::F16 {
        c |= Capabilities::SHADER_FLOAT16;
    }
    if dtype == DType::F64 {
        c |= Capabilities::FLOAT64;
    }
    c
}

fn validate(
    shader: &Shader,
    entry: &str,
    dtype: DType,
    overrides: &[(&str, f64)],
    subgroups: bool,
) -> Result<(), String> {
    let source = specialize(shader, dtype, None).map_err(|e| e.to_string())?;
    let ty = match dtype {
        DType::Bool => "u32".to_string(),
        d => d.name().to_string(),
    };
    if wgrad_wgpu::pipeline::is_generic(shader) && !source.contains(&format!("\nalias T = {ty};")) {
        return Err(format!("alias line not substituted for {dtype}"));
    }
    let module = naga::front::wgsl::parse_str(&source).map_err(|e| e.emit_to_string(&source))?;
    let mut caps = caps_for(dtype);
    if subgroups {
        caps |= Capabilities::SUBGROUP;
    }
    let info = Validator::new(ValidationFlags::all(), caps)
        .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
        .subgroup_operations(naga::valid::SubgroupOperationSet::all())
        .validate(&module)
        .map_err(|e| e.emit_to_string(&source))?;
    if !module.entry_points.iter().any(|e| e.name == entry) {
        return Err(format!("no entry point {entry}"));
    }
    let mut constants = naga::back::PipelineConstants::default();
    for &(k, v) in overrides {
        constants.insert(k.to_string(), v);
    }
    naga::back::pipeline_constants::process_overrides(
        &module,
        &info,
        Some((naga::ShaderStage::Compute, entry)),
        &constants,
    )
    .map_err(|e| format!("overrides {overrides:?}: {e}"))?;
    Ok(())
}

#[test]
fn every_wgsl_file_and_variant_validates() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let portable = families().into_iter().map(|f| (f, false));
    let with_subgroups = subgroup_families().into_iter().map(|f| (f, true));
    for ((shader, variants), subgroups) in portable.chain(with_subgroups) {
        // the file as written (T = f32, default overrides)
        if let Err(e) = validate(shader, "", DType::F32, &[], subgroups).or_else(|e| {
            if e.starts_with("no entry point") {
                Ok(())
            } else {
                Err(e)
            }
        }) {
            failures.push(format!("{} as written: {e}", shader.name));
        }
        for (entry, dtype, overrides) in variants {
            checked += 1;
            if let Err(e) = validate(shader, entry, dtype, &overrides, subgroups) {
                failures.push(format!(
                    "{}/{entry}<{dtype}> {overrides:?}: {e}",
                    shader.name
                ));
            }
        }
    }
    eprintln!("validated {checked} variants");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
