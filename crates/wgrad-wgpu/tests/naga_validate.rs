//! Parses and validates every WGSL family file, every variant a family descriptor declares and every
//! generated elementwise kernel with naga (no GPU needed).
//!
//! Each variant is the file with its `alias T` line substituted for the dtype, validated with the
//! capabilities that dtype needs, then its overrides applied with `naga::back::pipeline_constants::
//! process_overrides` for the variant's entry point and validated again, as wgpu does at pipeline creation.

use naga::valid::{Capabilities, ValidationFlags, Validator};
use wgrad_graph::DType;
use wgrad_wgpu::dispatch::Shader;
use wgrad_wgpu::kernels::elementwise::Plan;
use wgrad_wgpu::kernels::{elementwise, families};
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
    features: wgpu::Features,
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
    if features.contains(wgpu::Features::SUBGROUP) {
        caps |= Capabilities::SUBGROUP;
    }
    if features.contains(wgpu::Features::SHADER_F16) {
        caps |= Capabilities::SHADER_FLOAT16;
    }
    if features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
        caps |= Capabilities::COOPERATIVE_MATRIX;
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
fn every_family_file_and_variant_validates() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for family in families() {
        let (shader, features) = (&family.shader, family.features);
        // the file as written (T = f32, default overrides)
        if let Err(e) = validate(shader, "", DType::F32, &[], features).or_else(|e| {
            if e.starts_with("no entry point") {
                Ok(())
            } else {
                Err(e)
            }
        }) {
            failures.push(format!("{} as written: {e}", shader.name));
        }
        for (entry, dtype, overrides) in family.variants() {
            checked += 1;
            if let Err(e) = validate(shader, entry, dtype, overrides, features) {
                failures.push(format!(
                    "{}/{entry}<{dtype}> {overrides:?}: {e}",
                    shader.name
                ));
            }
        }
    }
    eprintln!("validated {checked} family variants");
    assert!(checked > 150, "only {checked} variants");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every elementwise op of the registry in every dtype it runs in, reading its leaves one element at a time
/// and four (with each leaf splatted in turn): a missing `<op>_of` helper in `shaders/elementwise.wgsl`
/// fails here.
#[test]
fn every_elementwise_kernel_validates() {
    let mut failures = Vec::new();
    let variants = elementwise::variants();
    for expr in &variants {
        let leaves = expr
            .nodes
            .iter()
            .filter(|(n, _)| matches!(n, wgrad_graph::Node::Leaf(_)))
            .count();
        let dtype = elementwise::compute_dtype(expr).expect("one compute dtype");
        let plans = [
            Plan::Scalar,
            Plan::Vector { splat: 0 },
            Plan::Vector { splat: 1 },
        ]
        .into_iter()
        .chain((leaves > 1).then_some(Plan::Vector { splat: 2 }));
        for plan in plans {
            let shader = Shader {
                name: "elementwise",
                source: Box::leak(elementwise::source(expr, leaves, plan).into_boxed_str()),
            };
            if let Err(e) = validate(
                &shader,
                "main",
                dtype,
                &[("WG", 256.0)],
                wgpu::Features::empty(),
            ) {
                failures.push(format!("{:?}<{dtype}> {plan:?}: {e}", expr.nodes.last()));
            }
        }
    }
    assert!(variants.len() > 80, "only {} variants", variants.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every file in `shaders/` belongs to a family (or is the elementwise prelude, or `matmul_sg.wgsl`, which
/// the subgroup family appends to `matmul.wgsl`): a file without a descriptor would never be validated.
#[test]
fn every_shader_file_has_a_family() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let sources: Vec<&str> = families().iter().map(|f| f.shader.source).collect();
    let mut orphans = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("shaders/ exists") {
        let path = entry.expect("readable").path();
        let text = std::fs::read_to_string(&path).expect("utf-8 WGSL");
        let used =
            sources.iter().any(|s| s.contains(text.as_str())) || text == elementwise::PRELUDE;
        if !used {
            orphans.push(path.display().to_string());
        }
    }
    assert!(orphans.is_empty(), "WGSL files no family uses: {orphans:?}");
}
