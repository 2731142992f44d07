//! Element types.
//!
//! Host-side layout of each dtype is its natural Rust type (`f32`, `f64`, `half::f16`, `half::bf16`, `i32`,
//! `u32`, `bool` as one byte). How a backend stores a dtype is its own business (the wgpu backend stores `bool`
//! as `u32`, because WGSL has no byte-addressable storage).

use half::{bf16, f16};

/// The element type of a tensor (serialized by its lower-case name, as in layer configs).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I32,
    U32,
    Bool,
}

impl DType {
    /// Every dtype, for tests that walk them all.
    pub const ALL: [DType; 7] = [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I32,
        DType::U32,
        DType::Bool,
    ];

    /// Lower-case name as used in error messages (`f32`, `bf16`, `bool`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::Bool => "bool",
        }
    }

    /// Bytes per element in host memory.
    pub fn host_size(self) -> usize {
        match self {
            DType::F64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::Bool => 1,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::I32 | DType::U32)
    }

    /// Rounds an exact (f64) value to the nearest value representable in this dtype.
    ///
    /// The CPU reference computes every op in f64 and rounds once per op with this function, so its results
    /// are the correctly rounded results of each op: the yardstick other backends are measured against.
    /// Integers wrap like two's-complement arithmetic; bool is `v != 0`.
    pub fn round(self, v: f64) -> f64 {
        match self {
            DType::F64 => v,
            DType::F32 => v as f32 as f64,
            DType::F16 => f16::from_f64(v).to_f64(),
            DType::BF16 => bf16::from_f64(v).to_f64(),
            DType::I32 => {
                if v.is_finite() {
                    (v.trunc() as i64) as i32 as f64
                } else {
                    0.0
                }
            }
            DType::U32 => {
                if v.is_finite() {
                    (v.trunc() as i64) as u32 as f64
                } else {
                    0.0
                }
            }
            DType::Bool => {
                if v != 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that maps to a [`DType`]: what `Tensor::from_vec` takes and `to_vec` returns.
pub trait Element: Copy + Send + Sync + std::fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    /// Appends the host representation (little endian) to `out`.
    fn write_le(self, out: &mut Vec<u8>);
    /// Reads one element from exactly `DTYPE.host_size()` little-endian bytes.
    fn read_le(bytes: &[u8]) -> Self;
}

macro_rules! element_num {
    ($t:ty, $d:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_le_bytes(a)
            }
        }
    };
}
element_num!(f32, DType::F32);
element_num!(f64, DType::F64);
element_num!(i32, DType::I32);
element_num!(u32, DType::U32);

macro_rules! element_half {
    ($t:ty, $d:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            fn to_f64(self) -> f64 {
                <$t>::to_f64(self)
            }
            fn from_f64(v: f64) -> Self {
                <$t>::from_f64(v)
            }
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes([bytes[0], bytes[1]])
            }
        }
    };
}
element_half!(f16, DType::F16);
element_half!(bf16, DType::BF16);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn to_f64(self) -> f64 {
        if self {
            1.0
        } else {
            0.0
        }
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
    fn read_le(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
}

/// Encodes f64 values as host bytes of `dtype` (each value rounded to the dtype first).
pub fn encode_f64(values: &[f64], dtype: DType) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * dtype.host_size());
    for &v in values {
        match dtype {
            DType::F32 => (v as f32).write_le(&mut out),
            DType::F64 => v.write_le(&mut out),
            DType::F16 => f16::from_f64(v).write_le(&mut out),
            DType::BF16 => bf16::from_f64(v).write_le(&mut out),
            DType::I32 => (dtype.round(v) as i32).write_le(&mut out),
            DType::U32 => (dtype.round(v) as u32).write_le(&mut out),
            DType::Bool => (v != 0.0).write_le(&mut out),
        }
    }
    out
}

/// Decodes host bytes of `dtype` into f64 values.
pub fn decode_f64(bytes: &[u8], dtype: DType) -> Vec<f64> {
    let size = dtype.host_size();
    bytes
        .chunks_exact(size)
        .map(|b| match dtype {
            DType::F32 => f32::read_le(b).to_f64(),
            DType::F64 => f64::read_le(b),
            DType::F16 => f16::read_le(b).to_f64(),
            DType::BF16 => bf16::read_le(b).to_f64(),
            DType::I32 => i32::read_le(b).to_f64(),
            DType::U32 => u32::read_le(b).to_f64(),
            DType::Bool => bool::read_le(b).to_f64(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_roundtrip_every_dtype() {
        let values = [0.0, 1.0, -2.0, 3.0];
        for dtype in DType::ALL {
            let v: Vec<f64> = values.iter().map(|&x| dtype.round(x)).collect();
            let bytes = encode_f64(&v, dtype);
            assert_eq!(bytes.len(), v.len() * dtype.host_size(), "{dtype}");
            assert_eq!(decode_f64(&bytes, dtype), v, "{dtype}");
        }
    }

    #[test]
    fn round_matches_native_casts() {
        assert_eq!(DType::F32.round(0.1), 0.1f32 as f64);
        assert_eq!(DType::I32.round(-2.7), -2.0);
        assert_eq!(DType::U32.round(-1.0), u32::MAX as f64);
        assert_eq!(DType::Bool.round(0.5), 1.0);
    }
}
