//! Out-of-range gather/scatter_add indices on the GPU: the kernel records them in the engine's device error
//! flag and the next download returns `Error::Index` naming the op and the bad index (delayed report, like
//! CUDA's device-side asserts), once; later reads work again. Through the backend and through the Tensor API.

use wgrad_graph::dtype::{decode_f64, encode_f64};
use wgrad_graph::{
    Arg, Backend, Buffer, DType, Device, Error, Kernel, Layout, Meta, Op, Schedule, Shape, Step,
    Tensor, View,
};
use wgrad_wgpu::testing::backend_or_skip;
use wgrad_wgpu::WgpuBackend;

fn upload(b: &WgpuBackend, data: &[f64], shape: &[usize], dtype: DType) -> (Buffer, Meta) {
    let meta = Meta::new(Shape::new(shape), dtype);
    let buf = b
        .upload(&encode_f64(data, dtype), &meta)
        .expect("upload works");
    (buf, meta)
}

/// Executes one step (no download: execute must not report, and must not wait for the GPU).
fn execute(b: &WgpuBackend, op: &Op, ins: &[(Buffer, Meta)]) -> (Buffer, Meta) {
    let metas: Vec<&Meta> = ins.iter().map(|(_, m)| m).collect();
    let out = wgrad_graph::infer(op, &metas).expect("valid op");
    let n = ins.len();
    let schedule = Schedule {
        inputs: ins.iter().map(|(b, _)| b.clone()).collect(),
        steps: vec![Step {
            kernel: Kernel::Op(op.clone()),
            args: ins
                .iter()
                .enumerate()
                .map(|(slot, (_, m))| Arg {
                    slot,
                    layout: Layout::contiguous(m.shape.clone()),
                    dtype: m.dtype,
                })
                .collect(),
            out: n,
            meta: out.clone(),
            release: vec![],
        }],
        slot_count: n + 1,
        outputs: vec![n],
    };
    let result = b
        .execute(&schedule)
        .expect("execute does not see the indices");
    (result[0].clone(), out)
}

fn download(b: &WgpuBackend, (buf, meta): &(Buffer, Meta)) -> Result<Vec<f64>, Error> {
    let bytes = b.download(&View {
        buffer: buf.clone(),
        layout: Layout::contiguous(meta.shape.clone()),
        dtype: meta.dtype,
    })?;
    Ok(decode_f64(&bytes, meta.dtype))
}

fn expect_index_error(r: Result<Vec<f64>, Error>, op: &str, index: i64, size: usize) {
    let e = r.expect_err("an out-of-range index is an error at the next read");
    let msg = e.to_string();
    assert!(
        matches!(&e, Error::Index { op: o, .. } if *o == op),
        "{op}: {msg}"
    );
    assert!(
        msg.starts_with(&format!("{op}: index {index} out of range for dim "))
            && msg.ends_with(&format!("of size {size} (detected on the GPU)")),
        "{msg}"
    );
}

const X: [f64; 10] = [0., 1., 2., 3., 4., 10., 11., 12., 13., 14.];

#[test]
fn gather_out_of_range_is_an_index_error_at_the_next_read() {
    let Some(gpu) = backend_or_skip() else { return };
    let x = upload(&gpu, &X, &[2, 5], DType::F32);
    // index 7 on an axis of 5
    let idx = upload(&gpu, &[0., 7., 1., 2.], &[2, 2], DType::I32);
    let out = execute(&gpu, &Op::Gather { axis: 1 }, &[x.clone(), idx]);
    let e = download(&gpu, &out).expect_err("reported");
    assert_eq!(
        e.to_string(),
        "gather: index 7 out of range for dim 1 of size 5 (detected on the GPU)"
    );
    // reported once: the flag is cleared, the same buffer reads back with the defined value 0
    assert_eq!(download(&gpu, &out).expect("cleared"), [0., 0., 11., 12.]);

    // -1 along axis 0
    let neg = upload(&gpu, &[1., -1., 0., 1., 1.], &[1, 5], DType::I32);
    let out = execute(&gpu, &Op::Gather { axis: 0 }, &[x.clone(), neg]);
    expect_index_error(download(&gpu, &out), "gather", -1, 2);

    // a correct gather afterwards works again
    let good = upload(&gpu, &[4., 0., 3., 3.], &[2, 2], DType::I32);
    let out = execute(&gpu, &Op::Gather { axis: 1 }, &[x, good]);
    assert_eq!(
        download(&gpu, &out).expect("flag cleared"),
        [4., 0., 13., 13.]
    );
}

#[test]
fn scatter_add_out_of_range_is_an_index_error_at_the_next_read() {
    let Some(gpu) = backend_or_skip() else { return };
    let op = Op::ScatterAdd {
        axis: 0,
        shape: Shape::new([3, 2]),
    };
    let src = upload(&gpu, &[1., 2., 3., 4.], &[2, 2], DType::F32);
    for bad in [3., -2.] {
        let idx = upload(&gpu, &[0., 2., bad, 1.], &[2, 2], DType::I32);
        let out = execute(&gpu, &op, &[idx, src.clone()]);
        expect_index_error(download(&gpu, &out), "scatter_add", bad as i64, 3);
    }
    let idx = upload(&gpu, &[0., 2., 2., 1.], &[2, 2], DType::I32);
    let out = execute(&gpu, &op, &[idx, src.clone()]);
    assert_eq!(download(&gpu, &out).expect("ok"), [1., 0., 0., 4., 3., 2.]);
    // an empty output axis: every index is out of range, known without looking at the values
    let empty = Op::ScatterAdd {
        axis: 0,
        shape: Shape::new([0, 2]),
    };
    let idx = upload(&gpu, &[0., 0., 0., 0.], &[2, 2], DType::I32);
    let metas = [&idx.1, &src.1];
    let out = wgrad_graph::infer(&empty, &metas).expect("valid op");
    let schedule = Schedule {
        inputs: vec![idx.0.clone(), src.0.clone()],
        steps: vec![Step {
            kernel: Kernel::Op(empty),
            args: [&idx.1, &src.1]
                .iter()
                .enumerate()
                .map(|(slot, m)| Arg {
                    slot,
                    layout: Layout::contiguous(m.shape.clone()),
                    dtype: m.dtype,
                })
                .collect(),
            out: 2,
            meta: out,
            release: vec![],
        }],
        slot_count: 3,
        outputs: vec![2],
    };
    let e = gpu.execute(&schedule).expect_err("no valid index exists");
    assert!(
        matches!(
            e,
            Error::Index {
                op: "scatter_add",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn the_first_error_is_reported_by_the_next_download_of_any_tensor() {
    let Some(gpu) = backend_or_skip() else { return };
    let x = upload(&gpu, &X, &[2, 5], DType::F32);
    let idx = upload(&gpu, &[0., 9., 1., 2.], &[2, 2], DType::I32);
    execute(&gpu, &Op::Gather { axis: 1 }, &[x.clone(), idx]);
    let sidx = upload(&gpu, &[5., 0.], &[1, 2], DType::I32);
    let src = upload(&gpu, &[1., 2.], &[1, 2], DType::F32);
    let scatter = Op::ScatterAdd {
        axis: 0,
        shape: Shape::new([2, 2]),
    };
    execute(&gpu, &scatter, &[sidx, src]);
    // an unrelated read reports the first error (first writer wins) ...
    expect_index_error(download(&gpu, &x), "gather", 9, 5);
    // ... once: the second one was not recorded over it, and the flag is clear now
    assert_eq!(download(&gpu, &x).expect("cleared"), X);
}

#[test]
fn tensor_api_reports_out_of_range_indices_on_the_gpu() {
    let Some(gpu) = backend_or_skip() else { return };
    let dev = Device::new(gpu);
    let x = Tensor::from_vec(X.iter().map(|&v| v as f32).collect(), [2, 5], &dev).unwrap();
    let idx = Tensor::from_vec(vec![0i32, 7, 1, 2], [2, 2], &dev).unwrap();
    let err = x.gather(1, &idx).unwrap().to_vec::<f32>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "gather: index 7 out of range for dim 1 of size 5 (detected on the GPU)"
    );
    let neg = Tensor::from_vec(vec![-1i32], [1], &dev).unwrap();
    let err = x
        .index_select(0, &neg)
        .unwrap()
        .to_vec::<f32>()
        .unwrap_err();
    assert!(matches!(err, Error::Index { op: "gather", .. }), "{err}");
    assert!(err.to_string().contains("index -1 out of range"), "{err}");

    let sidx = Tensor::from_vec(vec![0i32, 4, 1], [1, 3], &dev).unwrap();
    let src = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [1, 3], &dev).unwrap();
    let err = Tensor::scatter_add(&sidx, &src, 1, [1, 4])
        .unwrap()
        .to_vec::<f32>()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "scatter_add: index 4 out of range for dim 1 of size 4 (detected on the GPU)"
    );

    // correct indices work again afterwards
    let good = Tensor::from_vec(vec![4i32, 0, 3, 3], [2, 2], &dev).unwrap();
    assert_eq!(
        x.gather(1, &good).unwrap().to_vec::<f32>().unwrap(),
        [4.0, 0.0, 13.0, 13.0]
    );
}
