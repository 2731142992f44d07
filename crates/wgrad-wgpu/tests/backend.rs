//! The wgpu backend as a device: what is not a comparison of an op against the CPU reference (those are rows of
//! the op table, `tests/ops` in the root crate). Grid folding past the 65,535-workgroup limit, the f16/f64
//! feature gating errors, kernels forced through `Options`, buffer-pool reuse across executes, the adapter's
//! name.

use wgrad_graph::dtype::{decode_f64, encode_f64};
use wgrad_graph::{
    Arg, Backend, BinaryOp, DType, Error, Kernel, Layout, Meta, Op, Schedule, Step, UnaryOp, View,
};
use wgrad_wgpu::kernels::{conv2d, matmul};
use wgrad_wgpu::testing::backend_or_skip;
use wgrad_wgpu::{Options, WgpuBackend};

/// Runs `op` as a one-step schedule on contiguous inputs of `data` (in `dtype`) and reads the output back.
fn run(
    b: &WgpuBackend,
    op: &Op,
    ins: &[(&[usize], Vec<f64>)],
    dtype: DType,
) -> Result<Vec<f64>, Error> {
    let metas: Vec<Meta> = ins.iter().map(|(s, _)| Meta::new(*s, dtype)).collect();
    let out = match op {
        Op::Full(_) => Meta::new([3], dtype),
        _ => wgrad_graph::infer(op, &metas.iter().collect::<Vec<_>>())?,
    };
    let inputs = ins
        .iter()
        .zip(&metas)
        .map(|((_, data), meta)| b.upload(&encode_f64(data, dtype), meta))
        .collect::<Result<Vec<_>, _>>()?;
    let n = ins.len();
    let schedule = Schedule {
        inputs,
        steps: vec![Step {
            kernel: Kernel::Op(op.clone()),
            args: metas
                .iter()
                .enumerate()
                .map(|(slot, m)| Arg {
                    slot,
                    layout: Layout::contiguous(m.shape.clone()),
                    dtype,
                })
                .collect(),
            out: n,
            meta: out.clone(),
            release: vec![],
        }],
        slot_count: n + 1,
        outputs: vec![n],
    };
    let result = b.execute(&schedule)?;
    let bytes = b.download(&View {
        buffer: result[0].clone(),
        layout: Layout::contiguous(out.shape.clone()),
        dtype: out.dtype,
    })?;
    Ok(decode_f64(&bytes, out.dtype))
}

fn ramp(n: usize) -> Vec<f64> {
    (0..n).map(|i| (i % 1000) as f64).collect()
}

/// The default adapter with `features` withheld (to reach the errors of adapters that lack them).
fn without(features: wgpu::Features) -> WgpuBackend {
    let opts = Options {
        disable_features: features,
        ..Default::default()
    };
    WgpuBackend::with_options(&opts).expect("the same adapter again")
}

#[test]
fn grid_folds_past_65535_workgroups() {
    let Some(gpu) = backend_or_skip() else { return };
    // 65,537 workgroups of 256: more than one grid dimension holds
    let n = 65_537 * 256 + 3;
    let got = run(
        &gpu,
        &Op::Unary(UnaryOp::Neg),
        &[(&[n], ramp(n))],
        DType::F32,
    )
    .expect("gpu runs");
    for (i, g) in got.iter().enumerate() {
        assert_eq!(*g, -((i % 1000) as f64), "index {i}");
    }
}

/// f16 kernels run where the adapter has SHADER_F16; without it (withheld here, so the error path runs on
/// every adapter) an f16 kernel is an error that names the feature.
#[test]
fn f16_follows_the_adapter_features() {
    let Some(gpu) = backend_or_skip() else { return };
    let add = Op::Binary(BinaryOp::Add);
    let pair = || [(&[17usize][..], ramp(17)), (&[17][..], ramp(17))];
    assert_eq!(gpu.supports(DType::F16), gpu.caps().shader_f16);
    if gpu.caps().shader_f16 {
        run(&gpu, &add, &pair(), DType::F16).expect("f16 add runs");
    }
    let gpu = without(wgpu::Features::SHADER_F16);
    assert!(!gpu.supports(DType::F16));
    let e = run(&gpu, &add, &pair(), DType::F16).expect_err("no SHADER_F16");
    assert!(e.to_string().contains("SHADER_F16"), "{e}");
    let mm = [(&[1usize, 3, 4][..], ramp(12)), (&[1, 4, 2][..], ramp(8))];
    let e = run(&gpu, &Op::Matmul, &mm, DType::F16).expect_err("no SHADER_F16");
    assert!(e.to_string().contains("SHADER_F16"), "{e}");
}

/// Without SHADER_F64 every f64 kernel refuses and says why; with it, an f64 fill whose value three f32
/// cannot hold is refused rather than rounded.
#[test]
fn f64_follows_the_adapter_features() {
    let Some(gpu) = backend_or_skip() else { return };
    if gpu.caps().shader_f64 {
        let e = run(&gpu, &Op::Full(1e-300), &[], DType::F64).expect_err("tiny");
        assert!(
            matches!(e, Error::Unsupported { .. }) && e.to_string().contains("three f32"),
            "{e}"
        );
    }
    let gpu = without(wgpu::Features::SHADER_F64);
    assert!(!gpu.supports(DType::F64));
    let e =
        run(&gpu, &Op::Copy, &[(&[45, 65], ramp(45 * 65))], DType::F64).expect_err("no SHADER_F64");
    assert!(e.to_string().contains("SHADER_F64"), "{e}");
}

/// `Options::matmul` and `Options::conv2d` force a kernel; a kernel the adapter cannot run is refused when
/// the device is created.
#[test]
fn options_force_the_matmul_kernel_and_conv2d_path() {
    let Some(gpu) = backend_or_skip() else { return };
    for v in matmul::Variant::ALL {
        let opts = Options {
            matmul: Some(v),
            ..Default::default()
        };
        match WgpuBackend::with_options(&opts) {
            Ok(forced) => {
                assert!(matmul::available(gpu.caps(), v), "{v:?}");
                assert_eq!(matmul::pick(forced.caps()), v);
            }
            Err(e) => {
                assert!(!matmul::available(gpu.caps(), v), "{v:?}: {e}");
                assert!(matches!(e, Error::Unsupported { .. }), "{e}");
            }
        }
    }
    let grouped = wgrad_graph::Conv2dParams {
        groups: 2,
        ..Default::default()
    };
    let opts = Options {
        conv2d: Some(conv2d::Path::Direct),
        ..Default::default()
    };
    let direct = WgpuBackend::with_options(&opts).expect("every adapter runs the direct path");
    let plain = wgrad_graph::Conv2dParams::default();
    assert_eq!(conv2d::pick(direct.caps(), &plain), conv2d::Path::Direct);
    for path in [conv2d::Path::Unfolded, conv2d::Path::Taps] {
        let opts = Options {
            conv2d: Some(path),
            ..Default::default()
        };
        if let Ok(texture) = WgpuBackend::with_options(&opts) {
            assert_eq!(conv2d::pick(texture.caps(), &plain), path);
            // grouped convolutions cannot take the texture paths
            assert_eq!(conv2d::pick(texture.caps(), &grouped), conv2d::Path::Direct);
        }
    }
}

#[test]
fn pool_reuses_buffers_across_executes() {
    let Some(gpu) = backend_or_skip() else { return };
    let exp = Op::Unary(UnaryOp::Exp);
    let x = || [(&[1000usize][..], ramp(1000))];
    run(&gpu, &exp, &x(), DType::F32).expect("runs");
    let before = gpu.pool_stats();
    for _ in 0..5 {
        run(&gpu, &exp, &x(), DType::F32).expect("runs");
    }
    let after = gpu.pool_stats();
    assert_eq!(
        after.created, before.created,
        "steady state creates no buffers: {before:?} -> {after:?}"
    );
    assert!(after.reused > before.reused);
}

#[test]
fn name_lists_backend_adapter_and_type() {
    let Some(gpu) = backend_or_skip() else { return };
    let name = gpu.name();
    assert!(
        name.starts_with("wgpu ") && name.contains(&gpu.caps().adapter_name),
        "{name}"
    );
    eprintln!(
        "{name}; caps: f16 {} f64 {} subgroups {} software {}",
        gpu.caps().shader_f16,
        gpu.caps().shader_f64,
        gpu.caps().subgroups,
        gpu.caps().is_software
    );
    let adapters = wgrad_wgpu::list_adapters().expect("lists");
    assert!(!adapters.is_empty());
    for a in adapters {
        eprintln!(
            "{:?} {:?} {} max_storage_buffer_binding_size {}",
            a.backend, a.device_type, a.name, a.limits.max_storage_buffer_binding_size
        );
    }
}

/// With autotuning on, the first matmul and convolution of a shape class time their candidates and write
/// the decision to the cache file; a second backend on the same file answers from it (the file does not
/// change); the tuned results equal the untuned backend's.
#[test]
fn autotune_decides_once_and_remembers() {
    let Some(plain) = backend_or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("wgrad-autotune-test-{}", std::process::id()));
    let file = dir.join("autotune.tsv");
    let _ = std::fs::remove_dir_all(&dir);
    let opts = Options {
        autotune: Some(true),
        autotune_cache: Some(file.clone()),
        ..Default::default()
    };
    let p = wgrad_graph::Conv2dParams {
        padding: [1, 1],
        ..Default::default()
    };
    let cases = [
        (Op::Matmul, vec![vec![2, 33, 70], vec![2, 70, 45]]),
        (Op::Conv2d(p), vec![vec![3, 5, 9, 7], vec![6, 5, 3, 3]]),
    ];
    let run_all = |b: &WgpuBackend| -> Vec<Vec<f64>> {
        cases
            .iter()
            .map(|(op, shapes)| {
                let ins: Vec<(&[usize], Vec<f64>)> = shapes
                    .iter()
                    .map(|s| (&s[..], ramp(s.iter().product())))
                    .collect();
                run(b, op, &ins, DType::F32).expect("runs")
            })
            .collect()
    };
    let want = run_all(&plain);
    let tuned = WgpuBackend::with_options(&opts).expect("autotuning needs nothing of the adapter");
    assert!(tuned.caps().autotune);
    let got = run_all(&tuned);
    for (g, w) in got.iter().zip(&want) {
        for (a, b) in g.iter().zip(w) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
    let text = std::fs::read_to_string(&file).expect("the cache file is written");
    assert!(text.contains("\tmatmul\tF32 b2 m64 n64 k128\t"), "{text}");
    if conv2d::pick(plain.caps(), &p) == conv2d::Path::Taps {
        // two texture paths to choose from (software adapters): a decision per pass that ran
        assert!(text.contains("\tconv2d\tconv2d F32 n4 [5, 9, 7]"), "{text}");
    }
    let again = WgpuBackend::with_options(&opts).expect("backend");
    run_all(&again);
    assert_eq!(std::fs::read_to_string(&file).expect("still there"), text);
    let _ = std::fs::remove_dir_all(&dir);
}
