//! The tensor half of checkpoints: writing named tensors to safetensors bytes, and matching a file's tensors
//! against the ones a model (or an optimizer) expects, with every problem collected before anything is
//! uploaded.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors, View};
use wgrad_graph::{realize, DType, Error, Meta, Result, Tensor};

use super::{IncompatibleKeys, LoadOptions};

pub(super) fn data_err(path: &str, msg: impl Into<String>) -> Error {
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

/// One tensor a file holds or should hold: its name, and the value it is or will replace (whose shape,
/// dtype and device a loaded value must have).
#[derive(Debug)]
pub(super) struct Slot {
    pub name: String,
    pub value: Tensor,
    /// A [`crate::Param::counter`]: `int64` in files, and optional there.
    pub counter: bool,
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

/// The safetensors bytes of `slots` (realized together, in one schedule) with `metadata`.
///
/// # Errors
/// Whatever realizing or downloading the tensors raises; `Error::Data` (naming `origin`) when serializing
/// fails.
pub(super) fn serialize(
    origin: &str,
    slots: &[Slot],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let tensors: Vec<&Tensor> = slots.iter().map(|s| &s.value).collect();
    realize(&tensors)?;
    let mut entries = Vec::with_capacity(slots.len());
    for slot in slots {
        let bytes = slot.value.to_bytes()?;
        let (dtype, data) = if slot.counter {
            (Dtype::I64, widen_i32(&bytes))
        } else {
            (to_st(slot.value.dtype()), bytes)
        };
        let entry = Entry {
            dtype,
            shape: slot.value.dims().to_vec(),
            data,
        };
        entries.push((slot.name.clone(), entry));
    }
    safetensors::serialize(entries, Some(metadata))
        .map_err(|e| data_err(origin, format!("serialize: {e}")))
}

/// Little-endian `i32`s as little-endian `i64`s.
fn widen_i32(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for c in bytes.chunks_exact(4) {
        let v = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        out.extend_from_slice(&i64::from(v).to_le_bytes());
    }
    out
}

/// Little-endian `i64`s as little-endian `i32`s, or the first value that does not fit.
fn narrow_i64(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(bytes.len() / 2);
    for c in bytes.chunks_exact(8) {
        let mut le = [0u8; 8];
        le.copy_from_slice(c);
        let v = i64::from_le_bytes(le);
        let v = i32::try_from(v)
            .map_err(|_| format!("value {v} does not fit the i32 counter wgrad keeps"))?;
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// The file's bytes for `slot` in the model's dtype, or what is wrong with them. The length of a view's
/// data matches its dtype and shape (`SafeTensors::deserialize` checks that against the file's size), and
/// the shape is compared before any copy, so a header with a huge shape allocates nothing.
fn convert<'a>(slot: &Slot, view: &TensorView<'a>) -> std::result::Result<Cow<'a, [u8]>, String> {
    let want = slot.value.dtype();
    let fits = match view.dtype() {
        Dtype::I64 => slot.counter,
        d => to_st(want) == d,
    };
    if !fits {
        let model = if slot.counter {
            "I64 for the counter".to_string()
        } else {
            format!("{want} in the model")
        };
        return Err(format!("dtype {:?} in the file, {model}", view.dtype()));
    }
    if view.shape() != slot.value.dims() {
        return Err(format!(
            "shape {:?} in the file, {} in the model",
            view.shape(),
            slot.value.shape()
        ));
    }
    if view.dtype() == Dtype::I64 {
        return narrow_i64(view.data()).map(Cow::Owned);
    }
    Ok(Cow::Borrowed(view.data()))
}

/// `name`, with the file's own name when the remap hook changed it.
fn label(name: &str, in_file: &str) -> String {
    if name == in_file {
        name.to_string()
    } else {
        format!("{name} ({in_file} in the file)")
    }
}

/// The file's tensors by the name the model knows them by (after the remap hook), each with its name in
/// the file; two tensors mapping to one name are a problem.
type FileTensors<'data> = BTreeMap<String, (String, TensorView<'data>)>;

fn by_model_name<'data>(
    st: &SafeTensors<'data>,
    options: &LoadOptions<'_>,
    problems: &mut Vec<String>,
) -> FileTensors<'data> {
    let mut file = FileTensors::new();
    for (in_file, view) in st.tensors() {
        let Some(name) = options.remapped(&in_file) else {
            continue;
        };
        if let Some((first, _)) = file.get(&name) {
            problems.push(format!(
                "{name}: two tensors in the file map to it ({first} and {in_file})"
            ));
            continue;
        }
        file.insert(name, (in_file, view));
    }
    file
}

/// Matches the tensors of safetensors `bytes` against `slots`: one value per slot (`None` for a counter the
/// file lacks, or a missing tensor in non-strict mode), and the keys that did not match.
///
/// Nothing is uploaded unless every check passes.
///
/// # Errors
/// `Error::Data` naming `origin` when the bytes are not a valid safetensors file, or when any tensor has the
/// wrong dtype or shape, two file names map to one tensor, or (strict) a tensor is missing or unexpected;
/// the message lists every problem. Whatever uploading the values raises.
pub(super) fn match_file(
    bytes: &[u8],
    origin: &str,
    slots: &[Slot],
    options: &LoadOptions<'_>,
) -> Result<(Vec<Option<Tensor>>, IncompatibleKeys)> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| data_err(origin, format!("not a valid safetensors file: {e}")))?;
    let mut problems = Vec::new();
    let mut file = by_model_name(&st, options, &mut problems);
    let mut keys = IncompatibleKeys::default();
    let mut found = Vec::with_capacity(slots.len());
    for slot in slots {
        let data = match file.remove(&slot.name) {
            None if slot.counter => None,
            None => {
                keys.missing_keys.push(slot.name.clone());
                None
            }
            Some((in_file, view)) => convert(slot, &view)
                .map_err(|msg| problems.push(format!("{}: {msg}", label(&slot.name, &in_file))))
                .ok(),
        };
        found.push(data);
    }
    keys.unexpected_keys = file.into_keys().collect();
    if options.strict {
        let missing = keys.missing_keys.iter();
        problems.extend(missing.map(|n| format!("{n}: missing from the file")));
        let unexpected = keys.unexpected_keys.iter();
        problems.extend(unexpected.map(|n| format!("{n}: not in the model")));
    }
    if !problems.is_empty() {
        let msg = format!(
            "checkpoint does not match the model ({} mismatches): {}",
            problems.len(),
            problems.join("; ")
        );
        return Err(data_err(origin, msg));
    }
    let upload = |(slot, data): (&Slot, Option<Cow<'_, [u8]>>)| -> Result<Option<Tensor>> {
        let Some(data) = data else { return Ok(None) };
        let meta = Meta::new(slot.value.shape().clone(), slot.value.dtype());
        Tensor::from_bytes(&data, meta, slot.value.device()).map(Some)
    };
    let values = slots.iter().zip(found).map(upload).collect::<Result<_>>()?;
    Ok((values, keys))
}

/// The metadata of safetensors `bytes` (only the header is parsed).
///
/// # Errors
/// `Error::Data` naming `origin` when the header is not valid.
pub(super) fn metadata(bytes: &[u8], origin: &str) -> Result<HashMap<String, String>> {
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| data_err(origin, format!("not a safetensors file: {e}")))?;
    Ok(meta.metadata().clone().unwrap_or_default())
}
