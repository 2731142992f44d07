//! Gradient buckets: many small gradients packed into a few large flat buffers.
//!
//! Why: a model has one gradient per parameter (six for the MLP, dozens for a CNN with batch norm, 161 for
//! ResNet-50), mostly small. Moving each on its own costs one GPU→host copy (a submit and a map on wgpu),
//! one all-reduce (a latency of several microseconds on shared memory, tens on a network) and one upload
//! per parameter per step. A bucket is one flat `f32` tensor holding the gradients of several parameters
//! back to back: the GPU concatenates them (one copy kernel per gradient, in the same schedule as the
//! backward pass), then each bucket costs one download, one all-reduce and one upload, and the averaged
//! gradients are zero-copy views (`narrow` + `reshape`) of the uploaded bucket.
//!
//! Layout (PyTorch DDP's): parameters in reverse order (the last layers' gradients are the first the
//! backward pass finishes, so a schedule that is split later can send them first), filled up to
//! `bucket_bytes` (25 MiB by default), with a smaller first bucket (`first_bucket_bytes`, 1 MiB) so that
//! the first all-reduce can start while the big buckets are still being copied. A parameter larger than the
//! cap gets a bucket of its own; parameters are never split. Buckets hold `f32` whatever the parameter's
//! dtype (f16/bf16 gradients are widened: sums of many ranks in f16 would lose bits).

use wgrad_graph::{no_grad, DType, Device, Result, Tensor};

/// Bytes per bucket element (`f32`).
pub const ELEMENT_BYTES: usize = 4;

/// Where one parameter's gradient lives in a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Index of the parameter in the optimizer's order ([`wgrad_nn::Optimizer::params`]).
    pub param: usize,
    /// First element in the bucket.
    pub offset: usize,
    pub numel: usize,
    /// The parameter's shape.
    pub shape: Vec<usize>,
}

/// One bucket: the slots it holds, back to back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub slots: Vec<Slot>,
    /// Elements in the bucket (the sum of its slots').
    pub numel: usize,
}

/// How gradients are packed into buckets; the same on every rank (it depends only on the shapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPlan {
    pub buckets: Vec<Bucket>,
    /// Parameters in the plan.
    pub params: usize,
}

impl BucketPlan {
    /// Buckets for parameters of `shapes` (in the optimizer's order): reverse order, the first bucket up
    /// to `first_bucket_bytes`, the others up to `bucket_bytes`.
    pub fn new(shapes: &[Vec<usize>], bucket_bytes: usize, first_bucket_bytes: usize) -> Self {
        let mut buckets: Vec<Bucket> = Vec::new();
        let mut current = Bucket {
            slots: Vec::new(),
            numel: 0,
        };
        for (param, shape) in shapes.iter().enumerate().rev() {
            let numel: usize = shape.iter().product();
            let cap = if buckets.is_empty() {
                first_bucket_bytes
            } else {
                bucket_bytes
            };
            let full = (current.numel + numel) * ELEMENT_BYTES > cap;
            if full && !current.slots.is_empty() {
                buckets.push(std::mem::replace(
                    &mut current,
                    Bucket {
                        slots: Vec::new(),
                        numel: 0,
                    },
                ));
            }
            current.slots.push(Slot {
                param,
                offset: current.numel,
                numel,
                shape: shape.clone(),
            });
            current.numel += numel;
        }
        if !current.slots.is_empty() {
            buckets.push(current);
        }
        BucketPlan {
            buckets,
            params: shapes.len(),
        }
    }

    /// Elements over all buckets (the parameters' total).
    pub fn numel(&self) -> usize {
        self.buckets.iter().map(|b| b.numel).sum()
    }

    /// Bytes one rank contributes to the all-reduces of a step.
    pub fn bytes(&self) -> usize {
        self.numel() * ELEMENT_BYTES
    }

    /// The buckets as lazy `f32` tensors `[numel]`: each the concatenation of its slots' gradients
    /// (flattened, widened to f32); a missing gradient (a parameter this rank's loss did not reach)
    /// contributes zeros, so every rank sends the same layout.
    ///
    /// # Errors
    /// `Error::Argument` when `grads` has another length than the plan's parameters; shape errors when a
    /// gradient's element count differs from its slot's.
    pub fn pack(&self, grads: &[Option<Tensor>], device: &Device) -> Result<Vec<Tensor>> {
        if grads.len() != self.params {
            return Err(wgrad_graph::Error::argument(
                "bucket pack",
                format!(
                    "{} gradients for a plan of {} parameters",
                    grads.len(),
                    self.params
                ),
            ));
        }
        no_grad(|| {
            self.buckets
                .iter()
                .map(|b| {
                    let parts = b
                        .slots
                        .iter()
                        .map(|s| flat_f32(grads[s.param].as_ref(), s, device))
                        .collect::<Result<Vec<_>>>()?;
                    Tensor::cat(&parts.iter().collect::<Vec<_>>(), 0)
                })
                .collect()
        })
    }

    /// The gradient of every parameter (in the optimizer's order) as views of `buckets` (one `[numel]`
    /// tensor per bucket, as [`BucketPlan::pack`] made them).
    ///
    /// # Errors
    /// `Error::Argument` when the bucket count or a bucket's length does not match the plan.
    pub fn unpack(&self, buckets: &[Tensor]) -> Result<Vec<Tensor>> {
        if buckets.len() != self.buckets.len() {
            return Err(wgrad_graph::Error::argument(
                "bucket unpack",
                format!(
                    "{} buckets for a plan of {}",
                    buckets.len(),
                    self.buckets.len()
                ),
            ));
        }
        let mut out: Vec<Option<Tensor>> = vec![None; self.params];
        for (b, t) in self.buckets.iter().zip(buckets) {
            if t.dims() != [b.numel] {
                return Err(wgrad_graph::Error::argument(
                    "bucket unpack",
                    format!("bucket of shape {}, the plan has [{}]", t.shape(), b.numel),
                ));
            }
            for s in &b.slots {
                out[s.param] = Some(t.narrow(0, s.offset, s.numel)?.reshape(s.shape.clone())?);
            }
        }
        out.into_iter()
            .enumerate()
            .map(|(i, g)| {
                g.ok_or_else(|| {
                    wgrad_graph::Error::argument(
                        "bucket unpack",
                        format!("parameter {i} is in no bucket"),
                    )
                })
            })
            .collect()
    }
}

/// `grad` flattened to `[numel]` f32, or zeros when there is none.
fn flat_f32(grad: Option<&Tensor>, slot: &Slot, device: &Device) -> Result<Tensor> {
    let Some(g) = grad else {
        return Ok(Tensor::zeros([slot.numel], DType::F32, device));
    };
    let g = if g.dtype() == DType::F32 {
        g.clone()
    } else {
        g.cast(DType::F32)?
    };
    g.reshape([slot.numel])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu() -> Device {
        Device::new(wgrad_cpu::CpuBackend)
    }

    #[test]
    fn bucket_plan_fills_in_reverse_with_a_small_first_bucket() {
        // 784-512-512-10 MLP: weights and biases in the optimizer's order.
        let shapes = vec![
            vec![512, 784],
            vec![512],
            vec![512, 512],
            vec![512],
            vec![10, 512],
            vec![10],
        ];
        let plan = BucketPlan::new(&shapes, 2 << 20, 64 << 10);
        let params: Vec<Vec<usize>> = plan
            .buckets
            .iter()
            .map(|b| b.slots.iter().map(|s| s.param).collect())
            .collect();
        // first bucket ≤ 64 KiB: 10 + 5120 + 512 floats = 22.6 KB; then ≤ 2 MiB: fc2 (1 MiB) with its
        // bias, and fc1 (1.6 MB) alone
        assert_eq!(params, vec![vec![5, 4, 3], vec![2, 1], vec![0]]);
        assert_eq!(plan.numel(), 784 * 512 + 512 + 512 * 512 + 512 + 5120 + 10);
        let b0 = &plan.buckets[0];
        assert_eq!(
            b0.slots.iter().map(|s| s.offset).collect::<Vec<_>>(),
            [0, 10, 5130]
        );
        // One large bucket when the cap allows it.
        assert_eq!(
            BucketPlan::new(&shapes, 25 << 20, 25 << 20).buckets.len(),
            1
        );
        assert!(BucketPlan::new(&[], 1, 1).buckets.is_empty());
    }

    #[test]
    fn bucket_pack_unpack_round_trip() -> Result<()> {
        let dev = cpu();
        let shapes = vec![vec![2, 3], vec![3], vec![4]];
        let plan = BucketPlan::new(&shapes, 5 * ELEMENT_BYTES, 4 * ELEMENT_BYTES);
        assert_eq!(plan.buckets.len(), 3, "{plan:?}");
        let a = Tensor::from_vec((0..6).map(|x| x as f32).collect(), [2, 3], &dev)?;
        let c = Tensor::from_vec(vec![10.0f32, 11.0, 12.0, 13.0], [4], &dev)?;
        let grads = vec![Some(a), None, Some(c)];
        let buckets = plan.pack(&grads, &dev)?;
        let values: Vec<Vec<f32>> = buckets
            .iter()
            .map(|b| b.to_vec::<f32>())
            .collect::<Result<_>>()?;
        assert_eq!(
            values,
            vec![
                vec![10.0, 11.0, 12.0, 13.0],
                vec![0.0, 0.0, 0.0],
                vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            ]
        );
        let back = plan.unpack(&buckets)?;
        assert_eq!(back[0].dims(), [2, 3]);
        assert_eq!(back[0].to_vec::<f32>()?, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(back[1].to_vec::<f32>()?, [0.0; 3]);
        assert_eq!(back[2].to_vec::<f32>()?, [10.0, 11.0, 12.0, 13.0]);
        assert!(plan.unpack(&buckets[..2]).is_err());
        assert!(plan.pack(&grads[..2], &dev).is_err());
        Ok(())
    }
}
