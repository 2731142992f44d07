//! Checkpoints: safetensors files that PyTorch reads and writes.
//!
//! The model file holds exactly what PyTorch's `model.state_dict()` holds: every parameter and buffer,
//! named by module path (`conv1.weight`, `bn1.running_mean`, `bn1.num_batches_tracked`), in PyTorch's
//! dtypes (counters such as `num_batches_tracked` as `int64`, see [`Param::counter`]). So
//! `model.load_state_dict(safetensors.torch.load_file(path), strict=True)` accepts a file wgrad wrote, and
//! [`load`] accepts one PyTorch wrote with `safetensors.torch.save_file(model.state_dict(), path)`. Its
//! metadata holds the serde-serialized model config (`config`, JSON, which PyTorch ignores), so a model can
//! be rebuilt from the file alone ([`load_config`]).
//!
//! The optimizer state goes to a file of its own, as PyTorch keeps `optimizer.state_dict()` apart from the
//! model's: one tensor per parameter and slot, named `<param path>.<slot>` (`conv1.weight.exp_avg`), and the
//! step count in the metadata (`steps`). [`save`] writes it beside the model file, at [`optimizer_path`]
//! (`run.safetensors` → `run.optim.safetensors`), and [`load`] reads it from there;
//! [`save_optimizer`] / [`load_optimizer`] take any path.
//!
//! Loading checks every name, shape and dtype before changing anything, and reports all problems at once.
//! It is strict by default (PyTorch's `strict=True`): a tensor the model has and the file lacks, or the
//! other way round, is an error. [`LoadOptions`] relaxes that (`strict: false` returns the
//! [`IncompatibleKeys`], as PyTorch does) and renames the file's keys first (a `module.` prefix left by
//! `DataParallel`). A shape or dtype mismatch is an error in both modes. (PyTorch casts a tensor of another
//! float dtype on load; wgrad refuses it, so a dtype change is never silent.) A truncated, corrupt or
//! hostile file is an `Error::Data` naming the file, never a panic, and allocates no more than its size.
//!
//! ```text
//! checkpoint::save("run.safetensors", &model, Some(&opt), &config)?; // + run.optim.safetensors
//! let config: Config = checkpoint::load_config("run.safetensors")?;
//! checkpoint::load("run.safetensors", &model, Some(&mut opt))?;
//!
//! // a torchvision-style file saved from a DataParallel model, keys "module.conv1.weight", ...
//! let strip = |k: &str| Some(k.strip_prefix("module.").unwrap_or(k).to_string());
//! let keys = checkpoint::load_with("resnet.safetensors", &model, &LoadOptions::new().remap(&strip))?;
//! ```

mod tensors;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use wgrad_graph::{Error, Result, Tensor};

use crate::module::Module;
use crate::optim::OptimizerState;
use crate::param::Param;
use tensors::{data_err, match_file, metadata, serialize, Slot};

const CONFIG_KEY: &str = "config";
const STEPS_KEY: &str = "steps";

/// A key-remapping hook: the name the model knows a file's tensor by, or `None` to drop the tensor.
pub type Remap<'a> = &'a dyn Fn(&str) -> Option<String>;

/// How [`load_with`] matches a file's tensors to the model's.
///
/// The default is strict with no remapping: PyTorch's `load_state_dict(state_dict)`.
#[derive(Clone, Copy)]
pub struct LoadOptions<'a> {
    /// PyTorch's `strict`: when true a missing or unexpected tensor is an error; when false they are
    /// returned in [`IncompatibleKeys`] and everything else loads. Shape and dtype mismatches are errors
    /// either way.
    pub strict: bool,
    /// Renames each tensor of the file before matching (`Some(new name)`), or drops it (`None`).
    pub remap: Option<Remap<'a>>,
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            strict: true,
            remap: None,
        }
    }
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("strict", &self.strict)
            .field("remap", &self.remap.map(|_| "Fn(&str) -> Option<String>"))
            .finish()
    }
}

impl<'a> LoadOptions<'a> {
    /// Strict, no remapping (the default).
    pub fn new() -> Self {
        LoadOptions::default()
    }

    /// The same options with `strict` set.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The same options renaming the file's tensors with `remap` (`None` drops a tensor).
    pub fn remap(mut self, remap: Remap<'a>) -> Self {
        self.remap = Some(remap);
        self
    }

    /// The name the model knows `in_file` by, or `None` when the hook drops it.
    fn remapped(&self, in_file: &str) -> Option<String> {
        match self.remap {
            Some(f) => f(in_file),
            None => Some(in_file.to_string()),
        }
    }
}

/// What a non-strict load left out (PyTorch's `_IncompatibleKeys`); both empty after a strict load.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncompatibleKeys {
    /// Tensors of the model the file does not hold (they keep their values), in model order.
    pub missing_keys: Vec<String>,
    /// Tensors of the file (after remapping) the model does not have, sorted.
    pub unexpected_keys: Vec<String>,
}

impl IncompatibleKeys {
    /// Whether every key matched.
    pub fn is_empty(&self) -> bool {
        self.missing_keys.is_empty() && self.unexpected_keys.is_empty()
    }
}

fn model_slots(model: &dyn Module) -> Vec<(Slot, Param)> {
    let slot = |(name, p): (String, Param)| {
        let s = Slot {
            name,
            value: p.tensor(),
            counter: p.is_counter(),
        };
        (s, p)
    };
    model.state().into_iter().map(slot).collect()
}

fn optimizer_slots(
    model: &dyn Module,
    optim: &dyn OptimizerState,
) -> Result<Vec<(Slot, Param, &'static str)>> {
    let named = model.state();
    let mut out = Vec::new();
    for (p, slot, value) in optim.state_tensors() {
        let Some((path, _)) = named.iter().find(|(_, q)| q.same(&p)) else {
            return Err(Error::argument(
                "checkpoint",
                format!(
                    "the optimizer updates a parameter ({}) that is not in the model",
                    p.name()
                ),
            ));
        };
        let name = format!("{path}.{slot}");
        out.push((
            Slot {
                name,
                value,
                counter: false,
            },
            p,
            slot,
        ));
    }
    Ok(out)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
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

/// The model file's bytes: every parameter and buffer, with `config` in the metadata.
///
/// # Errors
/// Whatever realizing the tensors raises; `Error::Data` when `config` does not serialize.
pub fn to_bytes<C: Serialize>(model: &dyn Module, config: &C) -> Result<Vec<u8>> {
    let slots: Vec<Slot> = model_slots(model).into_iter().map(|(s, _)| s).collect();
    let json = serde_json::to_string(config)
        .map_err(|e| data_err("checkpoint", format!("config does not serialize: {e}")))?;
    let meta = HashMap::from([(CONFIG_KEY.to_string(), json)]);
    serialize("checkpoint", &slots, meta)
}

/// Where [`save`] puts the optimizer state of a model file: `path` with its extension replaced by
/// `optim.safetensors` (`run.safetensors` → `run.optim.safetensors`).
pub fn optimizer_path(path: impl AsRef<Path>) -> PathBuf {
    path.as_ref().with_extension("optim.safetensors")
}

/// Writes the model file (`path`, with `config` in its metadata) and, when `optim` is given, its state to
/// [`optimizer_path`]`(path)`.
///
/// # Errors
/// `Error::Io` naming the file that could not be written; see [`to_bytes`] and [`save_optimizer`].
pub fn save<C: Serialize>(
    path: impl AsRef<Path>,
    model: &dyn Module,
    optim: Option<&dyn OptimizerState>,
    config: &C,
) -> Result<()> {
    let path = path.as_ref();
    write(path, &to_bytes(model, config)?)?;
    match optim {
        Some(o) => save_optimizer(optimizer_path(path), model, o),
        None => Ok(()),
    }
}

/// The model config stored in a model file.
///
/// # Errors
/// `Error::Io` when the file cannot be read; `Error::Data` naming it when it is not a safetensors file, has
/// no config, or the config does not deserialize into `C`.
pub fn load_config<C: DeserializeOwned>(path: impl AsRef<Path>) -> Result<C> {
    let path = path.as_ref();
    config_from_bytes(&read(path)?, &path.display().to_string())
}

/// The model config stored in model-file bytes (`origin` names them in errors).
///
/// # Errors
/// As [`load_config`].
pub fn config_from_bytes<C: DeserializeOwned>(bytes: &[u8], origin: &str) -> Result<C> {
    let meta = metadata(bytes, origin)?;
    let json = meta
        .get(CONFIG_KEY)
        .ok_or_else(|| data_err(origin, "no model config in the metadata"))?;
    serde_json::from_str(json).map_err(|e| data_err(origin, format!("model config: {e}")))
}

/// Loads a model file strictly into `model` and, when `optim` is given, the optimizer file beside it
/// ([`optimizer_path`]). Both files are checked before anything changes.
///
/// # Errors
/// `Error::Io` naming a file that cannot be read; `Error::Data` naming the file that is corrupt or does not
/// match (every mismatch listed). On error nothing was loaded.
pub fn load(
    path: impl AsRef<Path>,
    model: &dyn Module,
    optim: Option<&mut dyn OptimizerState>,
) -> Result<()> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let (values, _) = model_values(&read(path)?, &name, model, &LoadOptions::default())?;
    let optim_state = match &optim {
        Some(o) => {
            let opath = optimizer_path(path);
            let bytes = read(&opath)?;
            Some(optimizer_values(
                &bytes,
                &opath.display().to_string(),
                model,
                &**o,
            )?)
        }
        None => None,
    };
    apply_model(values)?;
    if let (Some(o), Some(state)) = (optim, optim_state) {
        apply_optimizer(o, state)?;
    }
    Ok(())
}

/// Loads a model file into `model` with `options` (strictness, key remapping).
///
/// # Errors
/// As [`from_bytes`], and `Error::Io` when the file cannot be read.
pub fn load_with(
    path: impl AsRef<Path>,
    model: &dyn Module,
    options: &LoadOptions<'_>,
) -> Result<IncompatibleKeys> {
    let path = path.as_ref();
    from_bytes(&read(path)?, &path.display().to_string(), model, options)
}

/// Loads model-file bytes into `model` (`origin` names them in errors): PyTorch's `load_state_dict`.
/// Returns the keys that did not match (always empty when strict).
///
/// # Errors
/// `Error::Data` naming `origin` when the bytes are not a valid safetensors file, a tensor has the wrong
/// shape or dtype, a counter's value does not fit `i32`, two keys remap to one name, or (strict) a tensor is
/// missing or unexpected; the message lists every problem, and nothing was loaded.
pub fn from_bytes(
    bytes: &[u8],
    origin: &str,
    model: &dyn Module,
    options: &LoadOptions<'_>,
) -> Result<IncompatibleKeys> {
    let (values, keys) = model_values(bytes, origin, model, options)?;
    apply_model(values)?;
    Ok(keys)
}

type ModelValues = Vec<(Param, Tensor)>;

fn model_values(
    bytes: &[u8],
    origin: &str,
    model: &dyn Module,
    options: &LoadOptions<'_>,
) -> Result<(ModelValues, IncompatibleKeys)> {
    let (slots, params): (Vec<Slot>, Vec<Param>) = model_slots(model).into_iter().unzip();
    let (values, keys) = match_file(bytes, origin, &slots, options)?;
    let loaded = params.into_iter().zip(values);
    Ok((loaded.filter_map(|(p, v)| Some((p, v?))).collect(), keys))
}

fn apply_model(values: ModelValues) -> Result<()> {
    for (param, value) in values {
        param.set(&value)?;
    }
    Ok(())
}

/// The optimizer file's bytes: every state tensor as `<param path>.<slot>`, and the step count.
///
/// # Errors
/// `Error::Argument` when the optimizer updates a parameter that is not in `model` (it could not be named);
/// whatever realizing the tensors raises.
pub fn optimizer_to_bytes(model: &dyn Module, optim: &dyn OptimizerState) -> Result<Vec<u8>> {
    let slots: Vec<Slot> = optimizer_slots(model, optim)?
        .into_iter()
        .map(|(s, _, _)| s)
        .collect();
    let meta = HashMap::from([(STEPS_KEY.to_string(), optim.step_count().to_string())]);
    serialize("optimizer state", &slots, meta)
}

/// Writes the state of `optim`, whose parameters `model` names, to `path` (PyTorch's
/// `torch.save(optimizer.state_dict(), path)`, in safetensors).
///
/// # Errors
/// As [`optimizer_to_bytes`], and `Error::Io` naming the file when it cannot be written.
pub fn save_optimizer(
    path: impl AsRef<Path>,
    model: &dyn Module,
    optim: &dyn OptimizerState,
) -> Result<()> {
    write(path.as_ref(), &optimizer_to_bytes(model, optim)?)
}

/// Loads an optimizer file written by [`save_optimizer`] into `optim`, whose parameters `model` names.
///
/// # Errors
/// As [`optimizer_from_bytes`], and `Error::Io` when the file cannot be read.
pub fn load_optimizer(
    path: impl AsRef<Path>,
    model: &dyn Module,
    optim: &mut dyn OptimizerState,
) -> Result<()> {
    let path = path.as_ref();
    optimizer_from_bytes(&read(path)?, &path.display().to_string(), model, optim)
}

/// Loads optimizer-file bytes into `optim` (`origin` names them in errors). Always strict: every state
/// tensor must be there with its shape and dtype, and nothing else.
///
/// # Errors
/// `Error::Data` naming `origin` when the bytes are not a valid safetensors file, have no valid `steps`
/// metadata (a model file, say), or do not match the optimizer (every problem listed); `Error::Argument`
/// when the optimizer updates a parameter that is not in `model`. On error nothing was loaded.
pub fn optimizer_from_bytes(
    bytes: &[u8],
    origin: &str,
    model: &dyn Module,
    optim: &mut dyn OptimizerState,
) -> Result<()> {
    let state = optimizer_values(bytes, origin, model, optim)?;
    apply_optimizer(optim, state)
}

struct OptimizerValues {
    tensors: Vec<(Param, &'static str, Tensor)>,
    steps: u64,
}

fn optimizer_values(
    bytes: &[u8],
    origin: &str,
    model: &dyn Module,
    optim: &dyn OptimizerState,
) -> Result<OptimizerValues> {
    let steps = metadata(bytes, origin)?
        .get(STEPS_KEY)
        .ok_or_else(|| {
            data_err(
                origin,
                format!("no `{STEPS_KEY}` in the metadata: not an optimizer state file"),
            )
        })?
        .parse::<u64>()
        .map_err(|e| data_err(origin, format!("`{STEPS_KEY}` in the metadata: {e}")))?;
    let (slots, targets): (Vec<Slot>, Vec<(Param, &'static str)>) = optimizer_slots(model, optim)?
        .into_iter()
        .map(|(s, p, k)| (s, (p, k)))
        .unzip();
    let (values, _) = match_file(bytes, origin, &slots, &LoadOptions::default())?;
    let loaded = targets.into_iter().zip(values);
    let tensors = loaded.filter_map(|((p, k), v)| Some((p, k, v?))).collect();
    Ok(OptimizerValues { tensors, steps })
}

fn apply_optimizer(optim: &mut dyn OptimizerState, state: OptimizerValues) -> Result<()> {
    for (param, slot, value) in state.tensors {
        optim.set_state_tensor(&param, slot, value)?;
    }
    optim.set_step_count(state.steps);
    Ok(())
}
