//! Which trials a row makes: its checks, the strided layouts its inputs also take, the forced kernels it
//! also runs on, and the trial names (`<op>::<check>::<shapes>[ (<note>)][::<layout>]`).

use wgrad::{DType, Result, Tensor};

use crate::common::table::{exact_in_f64, Family, Row};
use crate::gpu::{self, Kernel};

/// Gradcheck skips variants bigger than this (they still run in the GPU checks).
pub const MAX_GRADCHECK_NUMEL: usize = 400;
/// Strided-layout variants skip variants bigger than this (the contiguous GPU check still runs).
const MAX_LAYOUT_NUMEL: usize = 1 << 17;

/// How each input is stored and viewed (all views have the input's logical shape).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Contiguous,
    /// Stored with its axes reversed, read through a permutation.
    Transposed,
    /// Every axis of a larger buffer sliced from 1 with step 2 (an offset and strides of 2).
    Sliced,
    /// The first axis longer than 1 stored once and expanded (stride 0).
    Broadcast,
}

impl Layout {
    pub const STRIDED: [Layout; 3] = [Layout::Transposed, Layout::Sliced, Layout::Broadcast];

    fn label(self) -> &'static str {
        match self {
            Layout::Contiguous => "",
            Layout::Transposed => "::transposed",
            Layout::Sliced => "::sliced",
            Layout::Broadcast => "::broadcast",
        }
    }

    /// The stored shape behind a view of `shape`, or `None` when this layout would be contiguous.
    pub fn storage(self, shape: &[usize]) -> Option<Vec<usize>> {
        match self {
            Layout::Contiguous => None,
            Layout::Transposed => (shape.iter().filter(|&&d| d > 1).count() >= 2)
                .then(|| shape.iter().rev().copied().collect()),
            Layout::Sliced => {
                (!shape.is_empty()).then(|| shape.iter().map(|d| 2 * d + 1).collect())
            }
            Layout::Broadcast => shape.iter().position(|&d| d > 1).map(|axis| {
                let mut s = shape.to_vec();
                s[axis] = 1;
                s
            }),
        }
    }

    /// `stored` (of [`Layout::storage`]'s shape) viewed as `shape`.
    pub fn view(self, stored: &Tensor, shape: &[usize]) -> Result<Tensor> {
        match self {
            Layout::Contiguous => Ok(stored.clone()),
            Layout::Transposed => {
                let perm: Vec<usize> = (0..shape.len()).rev().collect();
                stored.permute(&perm)
            }
            Layout::Sliced => {
                let ends = stored.dims().to_vec();
                stored.slice_all(vec![1; shape.len()], ends, vec![2; shape.len()])
            }
            Layout::Broadcast => stored.expand(shape.to_vec()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Check {
    /// Central differences in f64 on the CPU.
    Gradcheck,
    /// wgpu vs CPU in f32, forward and gradients, on a kernel and an input layout.
    Gpu(Kernel, Layout),
    /// wgpu vs CPU in f64 where the GPU computes exactly in f64, else an `Unsupported` refusal.
    GpuF64,
    /// wgpu vs CPU in f16 (or the SHADER_F16 error).
    GpuF16,
    /// wgpu vs CPU on integers, exactly.
    GpuInt(DType),
}

impl Check {
    fn label(self) -> String {
        match self {
            Check::Gradcheck => "gradcheck".to_string(),
            Check::Gpu(k, _) => format!("gpu{}", k.label()),
            Check::GpuF64 => "gpu_f64".to_string(),
            Check::GpuF16 => "gpu_f16".to_string(),
            Check::GpuInt(d) => format!("gpu_int[{}]", d.name()),
        }
    }
}

/// One trial: a row, one of its shape variants and a check.
#[derive(Clone, Copy)]
pub struct Case {
    pub row: &'static Row,
    pub variant: usize,
    pub check: Check,
}

impl Case {
    pub fn shapes(&self) -> &'static [Vec<usize>] {
        &self.row.shapes[self.variant]
    }

    pub fn layout(&self) -> Layout {
        match self.check {
            Check::Gpu(_, layout) => layout,
            _ => Layout::Contiguous,
        }
    }

    pub fn needs_gpu(&self) -> bool {
        self.check != Check::Gradcheck
    }

    pub fn name(&self) -> String {
        let shapes: Vec<String> = self.shapes().iter().map(|s| format!("{s:?}")).collect();
        let note = match self.row.note.as_str() {
            "" => String::new(),
            n => format!(" ({n})"),
        };
        format!(
            "{}::{}::{}{note}{}",
            self.row.name,
            self.check.label(),
            shapes.join("x"),
            self.layout().label()
        )
    }
}

fn numel(shapes: &[Vec<usize>]) -> usize {
    shapes.iter().map(|s| s.iter().product::<usize>()).sum()
}

fn has_float_input(row: &Row) -> bool {
    row.domains.iter().any(|d| d.follows_check())
}

/// Whether some float input of the variant reads differently in `layout`.
fn layout_applies(row: &Row, shapes: &[Vec<usize>], layout: Layout) -> bool {
    numel(shapes) <= MAX_LAYOUT_NUMEL
        && row
            .domains
            .iter()
            .zip(shapes)
            .any(|(d, s)| d.follows_check() && layout.storage(s).is_some())
}

/// Whether the row's graph holds only ops a GPU computes exactly in f64 (built lazily on the CPU from
/// zeros, nothing runs).
fn exact_in_f64_graph(row: &Row) -> bool {
    let cpu = crate::common::cpu();
    let inputs: Vec<Tensor> = row
        .domains
        .iter()
        .zip(&row.shapes[0])
        .map(|(d, s)| Tensor::zeros(s.clone(), d.dtype(DType::F64).0, &cpu))
        .collect();
    (row.build)(&inputs)
        .map(|out| out.graph_op_names().iter().all(|n| exact_in_f64(n)))
        .unwrap_or(false)
}

/// Every trial of one row.
pub fn of_row(row: &'static Row) -> Vec<Case> {
    let float = has_float_input(row);
    let f64_exact = float && exact_in_f64_graph(row);
    let mut checks = Vec::new();
    for (variant, shapes) in row.shapes.iter().enumerate() {
        let mut add = |check| {
            checks.push(Case {
                row,
                variant,
                check,
            })
        };
        if row.differentiable && row.gradcheck && float && numel(shapes) <= MAX_GRADCHECK_NUMEL {
            add(Check::Gradcheck);
        }
        add(Check::Gpu(Kernel::Default, Layout::Contiguous));
        for kernel in gpu::kernels(row.family) {
            add(Check::Gpu(kernel, Layout::Contiguous));
        }
        if row.family.has_layouts() {
            for layout in Layout::STRIDED {
                if layout_applies(row, shapes, layout) {
                    add(Check::Gpu(Kernel::Default, layout));
                }
            }
        }
        // a refusal needs asserting once per row
        if float && (f64_exact || variant == 0) {
            add(Check::GpuF64);
        }
        if float && row.family.has_f16() {
            add(Check::GpuF16);
        }
        if row.int {
            add(Check::GpuInt(DType::I32));
            if matches!(row.family, Family::Unary | Family::Binary) {
                add(Check::GpuInt(DType::U32));
            }
        }
    }
    checks
}
