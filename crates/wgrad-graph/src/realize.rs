//! `realize`: from pending graph nodes to a [`Schedule`], and back from buffers to values.
//!
//! View ops (permute, expand, slice, detach and reshape of contiguous data) become layouts over their
//! input's buffer and launch nothing. Kernels that cannot read strided data get a `copy` in front. Each slot
//! is released after the last step that reads it, so a backend can reuse its memory within the same run.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use crate::buffer::{Buffer, View};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::{Meta, Op};
use crate::schedule::{Arg, Kernel, Schedule, Slot, Step};
use crate::shape::Layout;
use crate::tensor::{Node, Tensor};

/// Where a value sits while the schedule is built.
#[derive(Clone)]
struct ValueRef {
    slot: Slot,
    layout: Layout,
    dtype: DType,
}

#[derive(Default)]
struct Builder {
    schedule: Schedule,
    /// Existing buffers already given a slot (by pointer), so a buffer read twice is bound once.
    input_slots: Vec<(Buffer, Slot)>,
    values: HashMap<u64, ValueRef>,
    last_read: HashMap<Slot, usize>,
    /// Constants already filled in this schedule, by (value bits, dtype, shape): optimizers and losses make
    /// many equal scalars (learning rate, β, 1.0), and each would otherwise be its own tiny kernel.
    constants: HashMap<(u64, crate::dtype::DType, crate::shape::Shape), ValueRef>,
}

impl Builder {
    fn new_slot(&mut self) -> Slot {
        self.schedule.slot_count += 1;
        self.schedule.slot_count - 1
    }

    fn input_slot(&mut self, buffer: &Buffer) -> Slot {
        if let Some((_, s)) = self.input_slots.iter().find(|(b, _)| b.same(buffer)) {
            return *s;
        }
        let slot = self.new_slot();
        self.schedule.inputs.push(buffer.clone());
        self.input_slots.push((buffer.clone(), slot));
        slot
    }

    fn push_step(&mut self, op: Op, args: Vec<ValueRef>, meta: Meta) -> ValueRef {
        let index = self.schedule.steps.len();
        for a in &args {
            self.last_read.insert(a.slot, index);
        }
        let out = self.new_slot();
        let args = args
            .into_iter()
            .map(|a| Arg {
                slot: a.slot,
                layout: a.layout,
                dtype: a.dtype,
            })
            .collect();
        let dtype = meta.dtype;
        let layout = Layout::contiguous(meta.shape.clone());
        self.schedule.steps.push(Step {
            kernel: Kernel::Op(op),
            args,
            out,
            meta,
            release: Vec::new(),
        });
        ValueRef {
            slot: out,
            layout,
            dtype,
        }
    }

    fn contiguous(&mut self, v: ValueRef) -> ValueRef {
        if v.layout.is_contiguous() {
            return v;
        }
        let meta = Meta::new(v.layout.shape.clone(), v.dtype);
        self.push_step(Op::Copy, vec![v], meta)
    }

    /// Adds the node (whose inputs already have values) to the schedule.
    fn add(&mut self, t: &Tensor, inputs: &[Tensor]) -> Result<ValueRef> {
        let op = t.op().clone();
        let meta = t.meta().clone();
        let mut args: Vec<ValueRef> = inputs
            .iter()
            .map(|i| {
                self.values
                    .get(&i.id())
                    .cloned()
                    .ok_or_else(|| Error::Backend {
                        backend: "schedule",
                        msg: format!("{}: input {:?} has no value", op.name(), i),
                    })
            })
            .collect::<Result<_>>()?;
        let view = |layout: Layout, a: &ValueRef| ValueRef {
            slot: a.slot,
            layout,
            dtype: a.dtype,
        };
        Ok(match &op {
            Op::Detach => args.remove(0),
            Op::Permute(p) => view(args[0].layout.permute(p), &args[0]),
            Op::Expand(s) => view(args[0].layout.expand(s), &args[0]),
            Op::Slice { starts, steps, .. } => {
                view(args[0].layout.slice(starts, steps, &meta.shape), &args[0])
            }
            Op::Reshape(s) => match args[0].layout.reshape(s) {
                Some(l) => view(l, &args[0]),
                None => {
                    let c = self.contiguous(args.remove(0));
                    let l = c
                        .layout
                        .reshape(s)
                        .expect("a contiguous layout always reshapes");
                    view(l, &c)
                }
            },
            Op::Full(v) => {
                let key = (v.to_bits(), meta.dtype, meta.shape.clone());
                if let Some(c) = self.constants.get(&key) {
                    return Ok(c.clone());
                }
                let c = self.push_step(op.clone(), args, meta);
                self.constants.insert(key, c.clone());
                c
            }
            Op::Leaf => {
                return Err(Error::Backend {
                    backend: "schedule",
                    msg: format!("leaf {t:?} has no buffer"),
                })
            }
            _ => {
                if !op.reads_strided() {
                    args = args.into_iter().map(|a| self.contiguous(a)).collect();
                }
                self.push_step(op, args, meta)
            }
        })
    }

    /// Attaches release points and renumbers slots so existing buffers take slots `0..inputs.len()`, as
    /// [`Schedule`] promises.
    fn finish(mut self, outputs: &[ValueRef]) -> (Schedule, Vec<Slot>) {
        let mut renumber = vec![usize::MAX; self.schedule.slot_count];
        for (i, (_, slot)) in self.input_slots.iter().enumerate() {
            renumber[*slot] = i;
        }
        let fresh = renumber.iter_mut().filter(|r| **r == usize::MAX);
        for (next, r) in (self.input_slots.len()..).zip(fresh) {
            *r = next;
        }
        let keep: Vec<Slot> = outputs.iter().map(|o| renumber[o.slot]).collect();
        for (&slot, &index) in &self.last_read {
            if !keep.contains(&renumber[slot]) {
                self.schedule.steps[index].release.push(renumber[slot]);
            }
        }
        for step in &mut self.schedule.steps {
            step.out = renumber[step.out];
            for a in &mut step.args {
                a.slot = renumber[a.slot];
            }
            step.release.sort_unstable();
        }
        self.schedule.outputs = keep.clone();
        (self.schedule, keep)
    }
}

/// Pending nodes reachable from `targets`, inputs before users (iterative post-order DFS).
fn pending_in_order(targets: &[&Tensor]) -> Vec<(Tensor, Vec<Tensor>)> {
    let mut order = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<(Tensor, bool)> =
        targets.iter().rev().map(|&t| (t.clone(), false)).collect();
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            let inputs = t.inputs();
            order.push((t, inputs));
            continue;
        }
        if !seen.insert(t.id()) {
            continue;
        }
        let (realized, inputs) = {
            let st = t.state();
            (st.value.is_some(), st.inputs.clone())
        };
        if realized {
            order.push((t, Vec::new()));
            continue;
        }
        stack.push((t.clone(), true));
        for i in inputs.iter().rev() {
            if !seen.contains(&i.id()) {
                stack.push((i.clone(), false));
            }
        }
    }
    order
}

thread_local! {
    /// Values this thread asked to compute with the next realize on their device (see [`defer`]).
    static DEFERRED: RefCell<Vec<Weak<Node>>> = const { RefCell::new(Vec::new()) };
}

/// Asks for `t` to be computed by the next [`realize`] on its device from this thread, whatever that
/// realize's targets are. Nothing is kept alive: a deferred value that is dropped first is not computed.
///
/// What defers: `backward` its loss (so `loss.backward()?; opt.step()?; loss.item()` computes the loss in
/// the step's schedule, not in a second pass over the graph), and layers the new values of their buffers
/// (batch-norm running statistics), which would otherwise pile up as a pending graph.
pub fn defer(t: &Tensor) {
    if t.is_realized() {
        return;
    }
    DEFERRED.with(|d| {
        let mut d = d.borrow_mut();
        if d.len() >= 64 {
            d.retain(|w| w.strong_count() > 0);
        }
        d.push(Arc::downgrade(&t.node));
    });
}

/// The deferred values of `device` that are still alive and pending; they leave the list.
fn take_deferred(device: &crate::device::Device) -> Vec<Tensor> {
    DEFERRED.with(|d| {
        let mut taken = Vec::new();
        d.borrow_mut().retain(|w| {
            let Some(node) = w.upgrade() else {
                return false;
            };
            if !node.device.same(device) {
                return true;
            }
            let t = Tensor { node };
            if !t.is_realized() {
                taken.push(t);
            }
            false
        });
        taken
    })
}

/// Computes the values of `targets` in one schedule (on the GPU: one command encoder, one submit), together
/// with the values [`defer`]red on their device.
///
/// Only the targets keep their buffers; intermediate values are freed as soon as possible, and computed
/// again if realized later. Realize together what you need together (the loss and the new parameters).
pub fn realize(targets: &[&Tensor]) -> Result<()> {
    let Some(first) = targets.first() else {
        return Ok(());
    };
    let device = first.device().clone();
    let deferred = take_deferred(&device);
    if let Some(t) = targets.iter().find(|t| !t.device().same(&device)) {
        return Err(Error::DeviceMismatch {
            op: "realize",
            lhs: device.name(),
            rhs: t.device().name(),
        });
    }
    let mut pending: Vec<&Tensor> = targets
        .iter()
        .copied()
        .filter(|t| !t.is_realized())
        .collect();
    for d in &deferred {
        if !pending.iter().any(|t| t.same(d)) {
            pending.push(d);
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let mut b = Builder::default();
    for (t, inputs) in pending_in_order(&pending) {
        let existing = t.state().value.clone();
        let v = match existing {
            Some(view) => ValueRef {
                slot: b.input_slot(&view.buffer),
                layout: view.layout,
                dtype: view.dtype,
            },
            None => b.add(&t, &inputs)?,
        };
        b.values.insert(t.id(), v);
    }
    let outs: Vec<ValueRef> = pending.iter().map(|t| b.values[&t.id()].clone()).collect();
    let (mut schedule, out_slots) = b.finish(&outs);
    if device.backend().fuses_elementwise() {
        schedule = crate::fuse::fuse(schedule);
    }
    let buffers = if schedule.steps.is_empty() {
        // Only views of existing buffers: nothing to run, and every slot is an input slot.
        out_slots
            .iter()
            .map(|&s| schedule.inputs[s].clone())
            .collect()
    } else {
        device.backend().execute(&schedule)?
    };
    for ((t, o), buffer) in pending.iter().zip(&outs).zip(buffers) {
        let mut st = t.state();
        st.value = Some(View {
            buffer,
            layout: o.layout.clone(),
            dtype: o.dtype,
        });
        if !t.requires_grad() {
            st.inputs.clear();
        }
    }
    Ok(())
}

fn check_element<T: Element>(op: &'static str, dtype: DType) -> Result<()> {
    if T::DTYPE != dtype {
        return Err(Error::dtype(
            op,
            format!("tensor is {dtype}, asked for {}", T::DTYPE),
        ));
    }
    Ok(())
}

fn elements<T: Element>(bytes: &[u8]) -> Vec<T> {
    bytes
        .chunks_exact(T::DTYPE.host_size())
        .map(T::read_le)
        .collect()
}

impl Tensor {
    /// Computes this tensor's value now (see [`realize`]).
    pub fn realize(&self) -> Result<&Tensor> {
        realize(&[self])?;
        Ok(self)
    }

    /// The realized value (buffer and layout).
    pub fn value(&self) -> Result<View> {
        self.realize()?;
        self.state().value.clone().ok_or_else(|| Error::Backend {
            backend: "schedule",
            msg: "realize left no value".to_string(),
        })
    }

    /// The value as a contiguous view (realized, copied first when strided).
    fn contiguous_value(&self) -> Result<View> {
        let view = self.value()?;
        if view.layout.is_contiguous() {
            return Ok(view);
        }
        Tensor::from_op(Op::Copy, &[self])?.value()
    }

    /// Host bytes of the value in row-major order.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.device().backend().download(&self.contiguous_value()?)
    }

    /// The elements in row-major order. `T` must be the tensor's dtype (use `cast` first otherwise).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        check_element::<T>("to_vec", self.dtype())?;
        Ok(elements(&self.to_bytes()?))
    }

    /// [`Tensor::to_vec`] as a future: the graph is submitted when it is called, and awaiting does not block
    /// the thread while the device computes and copies (on wgpu; the CPU backend is done at once).
    pub async fn to_vec_async<T: Element>(&self) -> Result<Vec<T>> {
        check_element::<T>("to_vec_async", self.dtype())?;
        let view = self.contiguous_value()?;
        let backend = self.device().backend();
        Ok(elements(&backend.download_async(&view).await?))
    }

    /// The elements as f64, whatever the dtype.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        Ok(crate::dtype::decode_f64(&self.to_bytes()?, self.dtype()))
    }

    /// The single element of a one-element tensor, as f64.
    pub fn item(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(Error::shape(
                "item",
                format!(
                    "needs one element, shape {} has {}",
                    self.shape(),
                    self.numel()
                ),
            ));
        }
        Ok(self.to_f64_vec()?[0])
    }

    /// A copy of this tensor on another device (realizes it first).
    pub fn to_device(&self, device: &crate::device::Device) -> Result<Tensor> {
        if self.device().same(device) {
            return Ok(self.clone());
        }
        let bytes = self.to_bytes()?;
        Tensor::from_bytes(&bytes, self.meta().clone(), device)
    }
}
