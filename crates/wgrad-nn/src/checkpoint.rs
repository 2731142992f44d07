//! Checkpoints: parameters, buffers and optimizer state in one safetensors file.
//!
//! Tensors are named by their module path (`conv1.weight`, `bn1.running_mean`, as PyTorch's `state_dict`),
//! optimizer state as `optim.<param>.<slot>` (`optim.conv1.weight.exp_avg`). The metadata holds the
//! serde-serialized model config (`config`, JSON) and the optimizer's step count (`optim.steps`), so a model
//! can be rebuilt from the file alone. Loading checks every name, shape and dtype before changing anything
//! and reports all mismatches at once; a truncated or corrupt file is an `Error`, never a panic.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::{Dtype, SafeTensors, View};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wgrad_graph::{realize, DType, Error, Meta, Result, Tensor};

use crate::module::Module;
use crate::optim::OptimizerState;
use crate::param::Param;

const CONFIG_KEY: &str = "config";
const STEPS_KEY: &str = "optim.steps";

fn data_err(path: &str, msg: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_string(),
        msg: msg.into(),
    }
}

fn to_st(dtype: DType) -> Dtype {
    match dtype {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::I32 => Dtype::I32,
        DType::U32 => Dtype::U32,
        DType::Bool => Dtype::BOOL,
    }
}

fn from_st(dtype: Dtype) -> Option<DType> {
    Some(match dtype {
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::I32 => DType::I32,
        Dtype::U32 => DType::U32,
        Dtype::BOOL => DType::Bool,
        _ => return None,
    })
}

/// One tensor's host bytes, in the form `safetensors::serialize` takes.
struct Entry {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for Entry {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Every tensor a checkpoint of `model` (and `optim`) holds, by name, with the `Param` it belongs to and
/// the optimizer slot (`None` for the parameter itself).
fn expected(
    model: &dyn Module,
    optim: Option<&dyn OptimizerState>,
) -> Vec<(String, Param, Option<&'static str>, Tensor)> {
    let named = model.state();
    let mut out: Vec<_> = named
        .iter()
        .map(|(n, p)| (n.clone(), p.clone(), None, p.tensor()))
        .collect();
    if let Some(o) = optim {
        for (p, slot, t) in o.state_tensors() {
            if let Some((n, _)) = named.iter().find(|(_, q)| q.same(&p)) {
                out.push((format!("optim.{n}.{slot}"), p, Some(slot), t));
            }
        }
    }
    out
}

/// The file's bytes: every parameter, buffer and optimizer slot, with `config` in the metadata.
pub fn to_bytes<C: Serialize>(
    model: &dyn Module,
    optim: Option<&dyn OptimizerState>,
    config: &C,
) -> Result<Vec<u8>> {
    let items = expected(model, optim);
    let tensors: Vec<&Tensor> = items.iter().map(|(_, _, _, t)| t).collect();
    realize(&tensors)?;
    let mut entries = Vec::with_capacity(items.len());
    for (name, _, _, t) in &items {
        let entry = Entry {
            dtype: to_st(t.dtype()),
            shape: t.dims().to_vec(),
            data: t.to_bytes()?,
        };
        entries.push((name.clone(), entry));
    }
    let mut meta = HashMap::new();
    let json = serde_json::to_string(config)
        .map_err(|e| data_err("checkpoint", format!("config does not serialize: {e}")))?;
    meta.insert(CONFIG_KEY.to_string(), json);
    if let Some(o) = optim {
        meta.insert(STEPS_KEY.to_string(), o.step_count().to_string());
    }
    safetensors::serialize(entries, Some(meta))
        .map_err(|e| data_err("checkpoint", format!("serialize: {e}")))
}

/// Writes a checkpoint of `model`, optionally with `optim`'s state, and `config` in the metadata.
pub fn save<C: Serialize>(
    path: impl AsRef<Path>,
    model: &dyn Module,
    optim: Option<&dyn OptimizerState>,
    config: &C,
) -> Result<()> {
    let path = path.as_ref();
    let bytes = to_bytes(model, optim, config)?;
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The model config stored in a checkpoint file.
pub fn load_config<C: DeserializeOwned>(path: impl AsRef<Path>) -> Result<C> {
    let path = path.as_ref();
    config_from_bytes(&read(path)?, &path.display().to_string())
}

/// The model config stored in checkpoint bytes (`origin` names them in errors).
pub fn config_from_bytes<C: DeserializeOwned>(bytes: &[u8], origin: &str) -> Result<C> {
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| data_err(origin, format!("not a safetensors file: {e}")))?;
    let json = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(CONFIG_KEY))
        .ok_or_else(|| data_err(origin, "no model config in the metadata"))?;
    serde_json::from_str(json).map_err(|e| data_err(origin, format!("model config: {e}")))
}

/// Loads a checkpoint file into `model` (and `optim`).
pub fn load(
    path: impl AsRef<Path>,
    model: &dyn Module,
    optim: Option<&mut dyn OptimizerState>,
) -> Result<()> {
    let path = path.as_ref();
    from_bytes(&read(path)?, &path.display().to_string(), model, optim)
}

/// Loads checkpoint bytes into `model` (and `optim`). Nothing changes unless every expected tensor is present
/// with the right shape and dtype and the file has no unknown tensors; otherwise the error lists every
/// mismatch. Optimizer entries are ignored when `optim` is `None`.
pub fn from_bytes(
    bytes: &[u8],
    origin: &str,
    model: &dyn Module,
    optim: Option<&mut dyn OptimizerState>,
) -> Result<()> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| data_err(origin, format!("not a valid safetensors file: {e}")))?;
    let items = expected(model, optim.as_deref());
    let mut file: BTreeMap<String, _> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| optim.is_some() || !n.starts_with("optim."))
        .collect();
    let mut problems = Vec::new();
    let mut loaded = Vec::new();
    for (name, param, slot, t) in &items {
        let Some(view) = file.remove(name) else {
            problems.push(format!("{name}: missing from the file"));
            continue;
        };
        let dtype = from_st(view.dtype());
        if dtype != Some(t.dtype()) {
            problems.push(format!(
                "{name}: dtype {:?} in the file, {} in the model",
                view.dtype(),
                t.dtype()
            ));
        } else if view.shape() != t.dims() {
            problems.push(format!(
                "{name}: shape {:?} in the file, {} in the model",
                view.shape(),
                t.shape()
            ));
        } else {
            let meta = Meta::new(t.shape().clone(), t.dtype());
            let value = Tensor::from_bytes(view.data(), meta, t.device())?;
            loaded.push((param.clone(), *slot, value));
        }
    }
    problems.extend(file.keys().map(|n| format!("{n}: not in the model")));
    if !problems.is_empty() {
        return Err(data_err(
            origin,
            format!(
                "checkpoint does not match the model ({} mismatches): {}",
                problems.len(),
                problems.join("; ")
            ),
        ));
    }
    let steps = read_steps(bytes, origin)?;
    apply(loaded, optim, steps)
}

fn read_steps(bytes: &[u8], origin: &str) -> Result<Option<u64>> {
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| data_err(origin, format!("not a safetensors file: {e}")))?;
    match meta.metadata().as_ref().and_then(|m| m.get(STEPS_KEY)) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|e| data_err(origin, format!("{STEPS_KEY} = {s:?}: {e}"))),
    }
}

fn apply(
    loaded: Vec<(Param, Option<&'static str>, Tensor)>,
    mut optim: Option<&mut dyn OptimizerState>,
    steps: Option<u64>,
) -> Result<()> {
    for (param, slot, value) in loaded {
        match (slot, optim.as_deref_mut()) {
            (None, _) => param.set(&value)?,
            (Some(slot), Some(o)) => o.set_state_tensor(&param, slot, value)?,
            (Some(_), None) => {}
        }
    }
    if let (Some(o), Some(s)) = (optim, steps) {
        o.set_step_count(s);
    }
    Ok(())
}
