//! The `Backend` impl: upload, download, and schedules run through `run_schedule`.

use std::any::Any;

use wgrad_graph::dtype::{decode_f64, encode_f64};
use wgrad_graph::{
    Arg, Backend, BinaryOp, Buffer, BufferImpl, DType, Error, Kernels, Layout, Meta, Op, Schedule,
    Shape, Step, UnaryOp, View,
};

use super::{k, meta, read};
use crate::CpuBackend;

#[test]
fn backend_basics() {
    let b = CpuBackend;
    assert_eq!(b.name(), "cpu");
    assert!(DType::ALL.iter().all(|&d| b.supports(d)));
}

#[test]
fn upload_download_round_trip_every_dtype() {
    let b = CpuBackend;
    for dtype in DType::ALL {
        let v: Vec<f64> = [0.0, 1.0, 3.0, 1.5]
            .iter()
            .map(|&x| dtype.round(x))
            .collect();
        let bytes = encode_f64(&v, dtype);
        let m = meta([2, 2], dtype);
        let buf = b.upload(&bytes, &m).unwrap();
        assert_eq!(buf.byte_size(), 4 * dtype.host_size(), "{dtype}");
        let view = View {
            buffer: buf,
            layout: Layout::contiguous(m.shape.clone()),
            dtype,
        };
        assert_eq!(b.download(&view).unwrap(), bytes, "{dtype}");
    }
    let e = b.upload(&[0u8; 3], &meta([1], DType::F32)).unwrap_err();
    assert!(matches!(e, Error::Backend { backend: "cpu", .. }), "{e}");
}

#[test]
fn download_reads_strided_views() {
    // [[1, 2, 3], [4, 5, 6]] transposed: [1, 4, 2, 5, 3, 6].
    let b = CpuBackend;
    let m = meta([2, 3], DType::F32);
    let buf = b
        .upload(&encode_f64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], DType::F32), &m)
        .unwrap();
    let layout = Layout::contiguous(m.shape).permute(&[1, 0]);
    let bytes = b
        .download(&View {
            buffer: buf,
            layout,
            dtype: DType::F32,
        })
        .unwrap();
    assert_eq!(
        decode_f64(&bytes, DType::F32),
        [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
    );
}

/// `exp(neg(x)) + x` as a two-step-plus-add schedule with releases; slot 0 is the uploaded `x`.
#[test]
fn execute_runs_a_schedule() {
    let b = CpuBackend;
    let m = meta([3], DType::F64);
    let x = b
        .upload(&encode_f64(&[0.0, 1.0, 2.0], DType::F64), &m)
        .unwrap();
    let arg = |slot| Arg {
        slot,
        layout: Layout::contiguous(Shape::new([3])),
        dtype: DType::F64,
    };
    let step = |op, args, out, release| Step {
        kernel: wgrad_graph::Kernel::Op(op),
        args,
        out,
        meta: m.clone(),
        release,
    };
    let schedule = Schedule {
        inputs: vec![x],
        steps: vec![
            step(Op::Unary(UnaryOp::Neg), vec![arg(0)], 1, vec![]),
            step(Op::Unary(UnaryOp::Exp), vec![arg(1)], 2, vec![1]),
            step(
                Op::Binary(BinaryOp::Add),
                vec![arg(2), arg(0)],
                3,
                vec![0, 2],
            ),
        ],
        slot_count: 4,
        outputs: vec![3],
    };
    let out = b.execute(&schedule).unwrap();
    // e^0 + 0 = 1, e^-1 + 1, e^-2 + 2.
    assert_eq!(
        read(&out[0]),
        [1.0, (-1f64).exp() + 1.0, (-2f64).exp() + 2.0]
    );
}

#[derive(Debug)]
struct Foreign;

impl BufferImpl for Foreign {
    fn byte_size(&self) -> usize {
        0
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[test]
fn foreign_and_overrunning_buffers_are_errors() {
    let foreign = Buffer::new(Foreign);
    let layout = Layout::contiguous(Shape::new([1]));
    let input = wgrad_graph::Input {
        buffer: &foreign,
        layout: &layout,
        dtype: DType::F32,
    };
    let e = k()
        .unary(UnaryOp::Neg, input, &meta([1], DType::F32))
        .unwrap_err();
    assert!(matches!(e, Error::Backend { backend: "cpu", .. }), "{e}");
    // A view reaching past the end of its buffer is reported, not a panic.
    let b = CpuBackend;
    let buf = b
        .upload(&encode_f64(&[1.0], DType::F32), &Meta::new([1], DType::F32))
        .unwrap();
    let long = Layout::contiguous(Shape::new([2]));
    let e = b
        .download(&View {
            buffer: buf,
            layout: long,
            dtype: DType::F32,
        })
        .unwrap_err();
    assert!(e.to_string().contains("does not fit"), "{e}");
}
