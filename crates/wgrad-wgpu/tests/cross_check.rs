//! wgpu against the CPU reference (`wgrad_cpu::CpuBackend`): one-step schedules built by hand, executed on
//! both backends, compared elementwise. Shapes include 1, 3, 17, 257 and non-multiples of the workgroup size;
//! inputs include permuted, expanded (stride 0) and sliced layouts.

use wgrad_cpu::CpuBackend;
use wgrad_graph::dtype::{decode_f64, encode_f64};
use wgrad_graph::philox;
use wgrad_graph::{
    Arg, Backend, BinaryOp, DType, Error, Kernel, Layout, Meta, Op, RandomDist, ReduceOp, Schedule,
    Shape, Step, UnaryOp, View,
};
use wgrad_wgpu::testing::backend_or_skip;
use wgrad_wgpu::WgpuBackend;

/// The one place tolerances live: f32 forward, and ops whose GPU builtins are less exact.
const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-4;
const TRANSCENDENTAL_RTOL: f64 = 1e-4;
const TRANSCENDENTAL_ATOL: f64 = 2e-5;

/// One input: the data of its buffer (a contiguous tensor of `base`) and the view the kernel reads.
#[derive(Clone)]
struct In {
    data: Vec<f64>,
    base: Shape,
    layout: Layout,
    dtype: DType,
}

impl In {
    fn new(shape: &[usize], dtype: DType, gen: impl Fn(usize) -> f64) -> In {
        let base = Shape::new(shape);
        let data = (0..base.numel()).map(|i| dtype.round(gen(i))).collect();
        In {
            data,
            layout: Layout::contiguous(base.clone()),
            base,
            dtype,
        }
    }
    fn view(mut self, f: impl Fn(&Layout) -> Layout) -> In {
        self.layout = f(&self.layout);
        self
    }
    fn meta(&self) -> Meta {
        Meta::new(self.layout.shape.clone(), self.dtype)
    }
}

/// A deterministic spread of values in about [-2, 2].
fn wave(i: usize) -> f64 {
    ((i as f64) * 0.7311).sin() * 2.0 + ((i * 7919) % 13) as f64 * 0.01
}

fn run(b: &dyn Backend, op: &Op, ins: &[In], out: &Meta) -> Result<Vec<f64>, Error> {
    let inputs = ins
        .iter()
        .map(|x| {
            b.upload(
                &encode_f64(&x.data, x.dtype),
                &Meta::new(x.base.clone(), x.dtype),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let n = ins.len();
    let schedule = Schedule {
        inputs,
        steps: vec![Step {
            kernel: Kernel::Op(op.clone()),
            args: ins
                .iter()
                .enumerate()
                .map(|(slot, x)| Arg {
                    slot,
                    layout: x.layout.clone(),
                    dtype: x.dtype,
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

fn close(a: f64, b: f64, atol: f64, rtol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= atol + rtol * b.abs()
}

/// Runs on both backends and compares; the message names op, shape, index and both values.
fn check_tol(gpu: &WgpuBackend, op: &Op, ins: &[In], atol: f64, rtol: f64) {
    let metas: Vec<Meta> = ins.iter().map(In::meta).collect();
    let refs: Vec<&Meta> = metas.iter().collect();
    let out = match op {
        Op::Full(_) | Op::Random { .. } => panic!("use check_source"),
        _ => wgrad_graph::infer(op, &refs).expect("valid test op"),
    };
    check_out(gpu, op, ins, &out, atol, rtol);
}

fn check_out(gpu: &WgpuBackend, op: &Op, ins: &[In], out: &Meta, atol: f64, rtol: f64) {
    let want = run(&CpuBackend::new(), op, ins, out).expect("cpu runs");
    let got = run(gpu, op, ins, out).unwrap_or_else(|e| panic!("{} {}: {e}", op.name(), out.shape));
    assert_eq!(want.len(), got.len());
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert!(
            close(*g, *w, atol, rtol),
            "{} {} {:?}: index {i}: gpu {g}, cpu {w}",
            op.name(),
            out.shape,
            ins.iter()
                .map(|x| x.layout.strides.clone())
                .collect::<Vec<_>>()
        );
    }
}

fn check(gpu: &WgpuBackend, op: &Op, ins: &[In]) {
    check_tol(gpu, op, ins, ATOL, RTOL);
}

const SHAPES: [&[usize]; 6] = [&[], &[1], &[3], &[17], &[257], &[45, 65]];

#[test]
fn unary_matches_cpu() {
    let Some(gpu) = backend_or_skip() else { return };
    for &op in UnaryOp::ALL {
        let positive = matches!(op, UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Rsqrt);
        let gen = move |i| {
            if positive {
                wave(i).abs() + 0.1
            } else {
                wave(i)
            }
        };
        for shape in SHAPES {
            let x = In::new(shape, DType::F32, gen);
            check_tol(
                &gpu,
                &Op::Unary(op),
                &[x],
                TRANSCENDENTAL_ATOL,
                TRANSCENDENTAL_RTOL,
            );
        }
        // permuted and sliced views
        let t = In::new(&[17, 3], DType::F32, gen).view(|l| l.permute(&[1, 0]));
        check_tol(
            &gpu,
            &Op::Unary(op),
            &[t],
            TRANSCENDENTAL_ATOL,
            TRANSCENDENTAL_RTOL,
        );
        let s = In::new(&[9, 20], DType::F32, gen)
            .view(|l| l.slice(&[1, 2], &[2, 3], &Shape::new([4, 6])));
        check_tol(
            &gpu,
            &Op::Unary(op),
            &[s],
            TRANSCENDENTAL_ATOL,
            TRANSCENDENTAL_RTOL,
        );
        if op.allows_int() {
            let x = In::new(&[257], DType::I32, |i| (i as f64) - 128.0);
            check(&gpu, &Op::Unary(op), &[x]);
        }
    }
}

#[test]
fn binary_matches_cpu_on_strided_and_broadcast_inputs() {
    let Some(gpu) = backend_or_skip() else { return };
    for &op in BinaryOp::ALL {
        let rhs_gen = |i| {
            if op == BinaryOp::Div {
                wave(i).abs() + 0.5
            } else {
                wave(i + 3)
            }
        };
        let lhs_gen = |i| {
            if op == BinaryOp::Pow {
                wave(i).abs() + 0.1
            } else {
                wave(i)
            }
        };
        for shape in SHAPES {
            let l = In::new(shape, DType::F32, lhs_gen);
            let r = In::new(shape, DType::F32, rhs_gen);
            check(&gpu, &Op::Binary(op), &[l, r]);
        }
        // lhs permuted [17, 3] -> [3, 17]; rhs a [17] row expanded to [3, 17]
        let l = In::new(&[17, 3], DType::F32, lhs_gen).view(|l| l.permute(&[1, 0]));
        let r = In::new(&[17], DType::F32, rhs_gen).view(|l| l.expand(&Shape::new([3, 17])));
        check(&gpu, &Op::Binary(op), &[l, r]);
        if op != BinaryOp::Pow {
            let l = In::new(&[300], DType::I32, |i| (i as f64) - 150.0);
            let r = In::new(&[300], DType::I32, |i| ((i * 7) % 11) as f64 + 1.0);
            check(&gpu, &Op::Binary(op), &[l, r]);
        }
    }
}

#[test]
fn where_matches_cpu() {
    let Some(gpu) = backend_or_skip() else { return };
    let c = In::new(&[5, 257], DType::Bool, |i| (i % 3 == 0) as u8 as f64);
    let a = In::new(&[257], DType::F32, wave).view(|l| l.expand(&Shape::new([5, 257])));
    let b = In::new(&[257, 5], DType::F32, |i| -wave(i)).view(|l| l.permute(&[1, 0]));
    check(&gpu, &Op::Where, &[c, a, b]);
}

#[test]
fn cast_matches_cpu() {
    let Some(gpu) = backend_or_skip() else { return };
    let pairs = [
        (DType::F32, DType::I32),
        (DType::F32, DType::Bool),
        (DType::I32, DType::F32),
        (DType::U32, DType::F32),
        (DType::Bool, DType::F32),
        (DType::Bool, DType::I32),
        (DType::I32, DType::U32),
        (DType::F16, DType::F32),
        (DType::BF16, DType::F32),
    ];
    for (from, to) in pairs {
        let x = In::new(&[17, 3], from, |i| {
            (wave(i) * 10.0).abs() * if from == DType::F32 { -1.0 } else { 1.0 }
        })
        .view(|l| l.permute(&[1, 0]));
        check(&gpu, &Op::Cast(to), &[x]);
    }
}

#[test]
fn reduce_matches_cpu_over_axis_sets() {
    let Some(gpu) = backend_or_skip() else { return };
    let axis_sets: [&[usize]; 6] = [&[0], &[1], &[2], &[0, 2], &[1, 2], &[0, 1, 2]];
    for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
        for axes in axis_sets {
            let x = In::new(&[3, 17, 257], DType::F32, wave);
            check(
                &gpu,
                &Op::Reduce {
                    op,
                    axes: axes.to_vec(),
                },
                &[x],
            );
            let t = In::new(&[257, 3, 5], DType::F32, wave).view(|l| l.permute(&[1, 2, 0]));
            check(
                &gpu,
                &Op::Reduce {
                    op,
                    axes: axes.to_vec(),
                },
                &[t],
            );
        }
        let i = In::new(&[1000], DType::I32, |i| ((i * 37) % 101) as f64 - 50.0);
        check(&gpu, &Op::Reduce { op, axes: vec![0] }, &[i]);
    }
    for op in [ReduceOp::ArgMax, ReduceOp::ArgMin] {
        for axis in 0..3 {
            // small integer values so ties exist: the first extremum must win
            let x = In::new(&[3, 17, 257], DType::F32, |i| ((i * 31) % 7) as f64);
            check(
                &gpu,
                &Op::Reduce {
                    op,
                    axes: vec![axis],
                },
                &[x],
            );
        }
    }
}

/// Few outputs over a long reduced range: the backend splits sum/max/min into passes (partials per chunk, then
/// the partials); argmax/argmin stay single-pass.
#[test]
fn reduce_to_few_outputs_matches_cpu() {
    let Some(gpu) = backend_or_skip() else { return };
    let ints = |i: usize| ((i * 37) % 101) as f64 - 50.0;
    for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
        for (dtype, gen) in [
            (DType::F32, &wave as &dyn Fn(usize) -> f64),
            (DType::I32, &ints),
        ] {
            // to 1 output: 120,000 contiguous elements, and 120,000 through a permuted (strided) view
            let x = In::new(&[120_000], dtype, gen);
            check(&gpu, &Op::Reduce { op, axes: vec![0] }, &[x]);
            let t = In::new(&[300, 400], dtype, gen).view(|l| l.permute(&[1, 0]));
            check(
                &gpu,
                &Op::Reduce {
                    op,
                    axes: vec![0, 1],
                },
                &[t],
            );
            // to 3 outputs over 40,000 each (120,000 elements), kept axis strided (permuted to the front)
            let t = In::new(&[200, 200, 3], dtype, gen).view(|l| l.permute(&[2, 0, 1]));
            check(
                &gpu,
                &Op::Reduce {
                    op,
                    axes: vec![1, 2],
                },
                &[t],
            );
            // to 3 outputs, reduced axis first: each output reads stride 3
            let t = In::new(&[40_000, 3], dtype, gen);
            check(&gpu, &Op::Reduce { op, axes: vec![0] }, &[t]);
        }
        // 2^22 elements: 1024 partials per output in the second pass
        let x = In::new(&[1 << 22], DType::F32, |i| {
            ((i * 7919) % 1001) as f64 * 0.25
        });
        check(&gpu, &Op::Reduce { op, axes: vec![0] }, &[x]);
    }
    for op in [ReduceOp::ArgMax, ReduceOp::ArgMin] {
        let x = In::new(&[120_000], DType::F32, |i| ((i * 31) % 7) as f64);
        check(&gpu, &Op::Reduce { op, axes: vec![0] }, &[x]);
    }
}

#[test]
fn movement_matches_cpu() {
    let Some(gpu) = backend_or_skip() else { return };
    let t = In::new(&[17, 3, 5], DType::F32, wave).view(|l| l.permute(&[2, 0, 1]));
    check(&gpu, &Op::Copy, std::slice::from_ref(&t));
    let e = In::new(&[3], DType::I32, |i| i as f64).view(|l| l.expand(&Shape::new([4, 3])));
    check(&gpu, &Op::Copy, &[e]);
    let x = In::new(&[3, 17], DType::F32, wave);
    let pad = Op::Pad {
        before: vec![1, 0],
        after: vec![2, 5],
        value: -1.5,
    };
    check(&gpu, &pad, std::slice::from_ref(&x));
    let xi = In::new(&[3, 17], DType::I32, |i| i as f64);
    let pad_i = Op::Pad {
        before: vec![0, 3],
        after: vec![1, 0],
        value: 7.0,
    };
    check(&gpu, &pad_i, &[xi]);
    let parts = [
        In::new(&[3, 17], DType::F32, wave),
        In::new(&[3, 1], DType::F32, |i| i as f64),
        In::new(&[3, 257], DType::F32, |i| -wave(i)),
    ];
    check(&gpu, &Op::Cat { axis: 1 }, &parts);
    let rows = [
        In::new(&[2, 5], DType::F32, wave),
        In::new(&[3, 5], DType::F32, |i| i as f64),
    ];
    check(&gpu, &Op::Cat { axis: 0 }, &rows);
    for (value, dtype) in [
        (2.5, DType::F32),
        (-3.0, DType::I32),
        (1.0, DType::Bool),
        (4e9, DType::U32),
    ] {
        check_out(
            &gpu,
            &Op::Full(value),
            &[],
            &Meta::new([257], dtype),
            0.0,
            0.0,
        );
    }
}

#[test]
fn gather_and_scatter_add_match_cpu() {
    let Some(gpu) = backend_or_skip() else { return };
    let x = In::new(&[5, 17], DType::F32, wave);
    let idx = In::new(&[5, 4], DType::I32, |i| ((i * 7) % 17) as f64);
    check(&gpu, &Op::Gather { axis: 1 }, &[x.clone(), idx]);
    let idx0 = In::new(&[3, 17], DType::I32, |i| ((i * 3) % 5) as f64);
    check(&gpu, &Op::Gather { axis: 0 }, &[x, idx0.clone()]);
    let src = In::new(&[3, 17], DType::F32, wave);
    let op = Op::ScatterAdd {
        axis: 0,
        shape: Shape::new([5, 17]),
    };
    check(&gpu, &op, &[idx0, src]);
    let idx1 = In::new(&[4, 9], DType::I32, |i| ((i * 5) % 3) as f64);
    let src1 = In::new(&[4, 9], DType::F32, wave);
    let op1 = Op::ScatterAdd {
        axis: 1,
        shape: Shape::new([6, 3]),
    };
    check(&gpu, &op1, &[idx1, src1]);
}

fn random_op(dist: RandomDist) -> Op {
    Op::Random {
        dist,
        seed: 0x1234_5678_9abc_def0,
        offset: (1 << 32) - 5000,
    }
}

#[test]
fn random_uniform_is_bit_equal_to_philox() {
    let Some(gpu) = backend_or_skip() else { return };
    let n = 10_000;
    let out = Meta::new([n], DType::F32);
    let got = run(&gpu, &random_op(RandomDist::Uniform), &[], &out).expect("gpu runs");
    for (i, g) in got.iter().enumerate() {
        // the offset makes the counter's low word carry into the high word halfway through
        let want = philox::uniform(0x1234_5678_9abc_def0, (1 << 32) - 5000, i as u64);
        assert_eq!(
            (*g as f32).to_bits(),
            want.to_bits(),
            "uniform index {i}: gpu {g}, cpu {want}"
        );
    }
    let normal = run(&gpu, &random_op(RandomDist::Normal), &[], &out).expect("gpu runs");
    for (i, g) in normal.iter().enumerate() {
        let want = philox::normal(0x1234_5678_9abc_def0, (1 << 32) - 5000, i as u64) as f64;
        assert!(
            close(*g, want, 1e-5, 1e-5),
            "normal index {i}: gpu {g}, cpu {want}"
        );
    }
    check_out(
        &gpu,
        &random_op(RandomDist::Bernoulli { p: 0.3 }),
        &[],
        &out,
        0.0,
        0.0,
    );
}

#[test]
fn grid_folds_past_65535_workgroups() {
    let Some(gpu) = backend_or_skip() else { return };
    // 65,537 workgroups of 256: more than one grid dimension holds
    let n = 65_537 * 256 + 3;
    let x = In::new(&[n], DType::F32, |i| (i % 1000) as f64);
    let got = run(
        &gpu,
        &Op::Unary(UnaryOp::Neg),
        &[x],
        &Meta::new([n], DType::F32),
    )
    .expect("gpu runs");
    for (i, g) in got.iter().enumerate() {
        assert_eq!(*g, -((i % 1000) as f64), "index {i}");
    }
}

#[test]
fn f16_follows_the_adapter_features() {
    let Some(gpu) = backend_or_skip() else { return };
    let l = In::new(&[17], DType::F16, wave);
    let r = In::new(&[17], DType::F16, |i| wave(i + 1));
    let op = Op::Binary(BinaryOp::Add);
    if gpu.supports(DType::F16) {
        check_tol(&gpu, &op, &[l, r], 1e-3, 1e-3);
    } else {
        let e = run(&gpu, &op, &[l, r], &Meta::new([17], DType::F16)).expect_err("no SHADER_F16");
        assert!(e.to_string().contains("SHADER_F16"), "{e}");
    }
}

/// f64 where the adapter has SHADER_F64 (lavapipe and the H100 do): the kernels exact in f64 match the CPU to
/// f64 rounding (element-wise ops and fills bit for bit), the others refuse with an error naming the op;
/// without SHADER_F64 every f64 kernel refuses and says why.
#[test]
fn f64_runs_where_the_adapter_has_shader_f64() {
    let Some(gpu) = backend_or_skip() else { return };
    let f64s = |shape: &[usize], k: usize| In::new(shape, DType::F64, move |i| wave(i + k) / 3.0);
    let x = f64s(&[45, 65], 0);
    if !gpu.caps().shader_f64 {
        assert!(!gpu.supports(DType::F64));
        let e =
            run(&gpu, &Op::Copy, std::slice::from_ref(&x), &x.meta()).expect_err("no SHADER_F64");
        assert!(e.to_string().contains("SHADER_F64"), "{e}");
        return;
    }
    assert!(gpu.supports(DType::F64));
    let row = f64s(&[65], 7).view(|l| l.expand(&Shape::new([45, 65])));
    for &op in BinaryOp::ALL.iter().filter(|&&op| op != BinaryOp::Pow) {
        check_tol(&gpu, &Op::Binary(op), &[x.clone(), row.clone()], 0.0, 0.0);
    }
    for op in [UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Sign, UnaryOp::Relu] {
        check_tol(&gpu, &Op::Unary(op), std::slice::from_ref(&x), 0.0, 0.0);
    }
    let cond = In::new(&[45, 65], DType::Bool, |i| (i % 3 == 0) as u8 as f64);
    check_tol(&gpu, &Op::Where, &[cond, x.clone(), row.clone()], 0.0, 0.0);
    for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::ArgMax] {
        let reduce = Op::Reduce { op, axes: vec![1] };
        check_tol(&gpu, &reduce, std::slice::from_ref(&x), 1e-13, 1e-13);
    }
    let t = x.clone().view(|l| l.permute(&[1, 0]));
    check_tol(&gpu, &Op::Copy, &[t], 0.0, 0.0);
    let pad = Op::Pad {
        before: vec![1, 0],
        after: vec![0, 2],
        value: f64::NEG_INFINITY,
    };
    check_tol(&gpu, &pad, std::slice::from_ref(&x), 0.0, 0.0);
    let idx = In::new(&[45, 4], DType::I32, |i| ((i * 7) % 65) as f64);
    check_tol(
        &gpu,
        &Op::Gather { axis: 1 },
        &[x.clone(), idx.clone()],
        0.0,
        0.0,
    );
    let scatter = Op::ScatterAdd {
        axis: 1,
        shape: Shape::new([45, 65]),
    };
    check_tol(&gpu, &scatter, &[idx, f64s(&[45, 4], 3)], 0.0, 0.0);
    // fills are exact in f64: 0.1 is not an f32 value
    for value in [0.1, -1.0 / 3.0, 1_234.567_890_123_456_7, 0.0] {
        check_out(
            &gpu,
            &Op::Full(value),
            &[],
            &Meta::new([17], DType::F64),
            0.0,
            0.0,
        );
    }
    let e = run(&gpu, &Op::Full(1e-300), &[], &Meta::new([3], DType::F64)).expect_err("tiny");
    assert!(e.to_string().contains("three f32"), "{e}");
    // refused rather than computed in f32
    let exp = Op::Unary(UnaryOp::Exp);
    let refused: [(&Op, Vec<In>, &str); 4] = [
        (&exp, vec![x.clone()], "f64 exp"),
        (&Op::Binary(BinaryOp::Pow), vec![x.clone(), row], "f64 pow"),
        (
            &Op::Matmul,
            vec![f64s(&[1, 3, 4], 1), f64s(&[1, 4, 2], 2)],
            "f64 matmul",
        ),
        (&Op::Cast(DType::F32), vec![x], "f64 cast"),
    ];
    for (op, ins, what) in refused {
        let metas: Vec<Meta> = ins.iter().map(In::meta).collect();
        let out = wgrad_graph::infer(op, &metas.iter().collect::<Vec<_>>()).expect("valid");
        let e = run(&gpu, op, &ins, &out).expect_err(what);
        assert!(
            matches!(e, Error::Unsupported { .. }) && e.to_string().contains(what),
            "{e}"
        );
    }
}

#[test]
fn pool_reuses_buffers_across_executes() {
    let Some(gpu) = backend_or_skip() else { return };
    let x = In::new(&[1000], DType::F32, wave);
    let out = Meta::new([1000], DType::F32);
    run(
        &gpu,
        &Op::Unary(UnaryOp::Exp),
        std::slice::from_ref(&x),
        &out,
    )
    .expect("runs");
    let before = gpu.pool_stats();
    for _ in 0..5 {
        run(
            &gpu,
            &Op::Unary(UnaryOp::Exp),
            std::slice::from_ref(&x),
            &out,
        )
        .expect("runs");
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
