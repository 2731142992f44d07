//! The IDX file format of MNIST and its descendants (Fashion-MNIST, KMNIST, EMNIST).
//!
//! An IDX file is a 4-byte magic number `00 00 TT NN` (two zero bytes, the element type `TT`, the number of
//! dimensions `NN`), then `NN` big-endian `u32` sizes, then the elements in row-major order. Only `u8` elements
//! (type `0x08`) are read: every data set wgrad ships or loads stores bytes.
//!
//! Why so strict: IDX has no checksum, and the usual corruption (a truncated download, a file that is not IDX at
//! all, labels from another split) would otherwise surface much later as a model that does not learn. So the
//! magic, the dimension count and the payload length are all checked exactly, and every failure is an
//! [`Error::Data`] that names the file and what is wrong. Files starting with the gzip magic `1f 8b` are
//! decompressed first, whatever their name.

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;
use wgrad_graph::{Error, Result};

/// The IDX element type code for unsigned bytes.
pub const TYPE_U8: u8 = 0x08;
/// Magic number of a 3-D `u8` file (MNIST images: count, rows, cols).
pub const MAGIC_IMAGES: u32 = 0x0000_0803;
/// Magic number of a 1-D `u8` file (MNIST labels).
pub const MAGIC_LABELS: u32 = 0x0000_0801;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A `u8` array read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    /// Sizes of the dimensions, outermost first (`[count, rows, cols]` for images).
    pub dims: Vec<usize>,
    /// The elements in row-major order; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

/// Reads a `u8` IDX file with any number of dimensions.
pub fn read(path: impl AsRef<Path>) -> Result<Idx> {
    read_with(path.as_ref(), None, "data")
}

/// Reads a 3-D `u8` IDX file (magic `0x00000803`): images as `[count, rows, cols]`.
pub fn read_images(path: impl AsRef<Path>) -> Result<Idx> {
    read_with(path.as_ref(), Some(3), "pixel")
}

/// Reads a 1-D `u8` IDX file (magic `0x00000801`): one label per sample.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Idx> {
    read_with(path.as_ref(), Some(1), "label")
}

fn read_with(path: &Path, ndim: Option<usize>, what: &str) -> Result<Idx> {
    let name = path.display().to_string();
    let mut bytes = read_bytes(path)?;
    let (dims, header) = validate(&name, &bytes, ndim, what)?;
    // the payload in place: no copy of a decompressed file (47 MB for MNIST's training images)
    bytes.drain(..header);
    Ok(Idx { dims, data: bytes })
}

/// The contents of `path`, decompressed when it starts with the gzip magic `1f 8b`.
pub fn read_bytes(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: name.clone(),
        source,
    })?;
    decompress(&name, raw)
}

/// `raw`, decompressed when it starts with the gzip magic `1f 8b`; `name` names the source in errors.
pub fn decompress(name: &str, raw: Vec<u8>) -> Result<Vec<u8>> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| data_err(name, format!("corrupt gzip stream: {e}")))?;
    Ok(out)
}

/// Parses the (already decompressed) bytes of an IDX file.
///
/// `path` only names the source in errors. `ndim`, when given, is the required number of dimensions; `what`
/// names an element in the length message (`"expected 7840000 pixel bytes, found 1234"`).
pub fn parse(path: &str, bytes: &[u8], ndim: Option<usize>, what: &str) -> Result<Idx> {
    let (dims, header) = validate(path, bytes, ndim, what)?;
    Ok(Idx {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Checks the header and the payload length of IDX `bytes`; returns the dims and the header length.
fn validate(
    path: &str,
    bytes: &[u8],
    ndim: Option<usize>,
    what: &str,
) -> Result<(Vec<usize>, usize)> {
    let Some(magic) = bytes.get(..4) else {
        return Err(data_err(
            path,
            format!(
                "file is {} bytes, too short for the 4-byte IDX magic number",
                bytes.len()
            ),
        ));
    };
    let magic_u32 = u32::from_be_bytes([magic[0], magic[1], magic[2], magic[3]]);
    if magic[0] != 0 || magic[1] != 0 {
        return Err(data_err(
            path,
            format!("bad magic number 0x{magic_u32:08x}: not an IDX file (the first two bytes must be zero)"),
        ));
    }
    if magic[2] != TYPE_U8 {
        return Err(data_err(
            path,
            format!(
                "bad magic number 0x{magic_u32:08x}: element type 0x{:02x} ({}) is not supported, expected u8 (0x08)",
                magic[2],
                type_name(magic[2])
            ),
        ));
    }
    let n = usize::from(magic[3]);
    if let Some(want) = ndim {
        if n != want {
            return Err(data_err(
                path,
                format!(
                    "bad magic number 0x{magic_u32:08x}: expected {want} dims (magic 0x{:08x}), found {n}",
                    0x0800 | want
                ),
            ));
        }
    }
    let header = 4 + 4 * n;
    let Some(dim_bytes) = bytes.get(4..header) else {
        return Err(data_err(
            path,
            format!(
                "truncated header: {n} dims need {header} header bytes, file has {}",
                bytes.len()
            ),
        ));
    };
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| data_err(path, format!("dims {dims:?} overflow the address space")))?;
    let payload = &bytes[header..];
    if payload.len() != expected {
        let kind = if payload.len() < expected {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(data_err(
            path,
            format!(
                "{kind}: dims {dims:?}: expected {expected} {what} bytes, found {}",
                payload.len()
            ),
        ));
    }
    Ok((dims, header))
}

/// The bytes of an uncompressed `u8` IDX file holding `data` with shape `dims` (the inverse of [`parse`]).
///
/// Errors when `dims` has more than 255 entries, a size does not fit in `u32`, or `data.len()` is not the
/// product of `dims`.
pub fn encode(dims: &[usize], data: &[u8]) -> Result<Vec<u8>> {
    let bad = |msg: String| Error::argument("idx::encode", msg);
    let n =
        u8::try_from(dims.len()).map_err(|_| bad(format!("{} dims, at most 255", dims.len())))?;
    let count: usize = dims.iter().product();
    if count != data.len() {
        return Err(bad(format!(
            "dims {dims:?} hold {count} elements, data has {}",
            data.len()
        )));
    }
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&[0, 0, TYPE_U8, n]);
    for &d in dims {
        let d = u32::try_from(d).map_err(|_| bad(format!("size {d} does not fit in u32")))?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    Ok(out)
}

fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "u8",
        0x09 => "i8",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "unknown",
    }
}

pub(crate) fn data_err(path: &str, msg: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_string(),
        msg: msg.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{gzip, TempDir};

    fn images_bytes(n: usize) -> Vec<u8> {
        let data: Vec<u8> = (0..n * 4).map(|i| i as u8).collect();
        encode(&[n, 2, 2], &data).expect("valid dims")
    }

    /// Writes `bytes` to a temp file and reads it as images; returns the error message (with the path).
    fn images_err(dir: &TempDir, name: &str, bytes: &[u8]) -> String {
        let path = dir.write(name, bytes);
        match read_images(&path) {
            Ok(idx) => panic!("{name}: expected an error, got dims {:?}", idx.dims),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(&path.display().to_string()),
                    "message does not name the file: {msg}"
                );
                msg
            }
        }
    }

    #[test]
    fn idx_roundtrip_raw_and_gzip() {
        let dir = TempDir::new("idx_roundtrip");
        let bytes = images_bytes(3);
        for (name, file) in [("raw", bytes.clone()), ("packed.bin", gzip(&bytes))] {
            let idx = read_images(dir.write(name, &file)).expect("valid file");
            assert_eq!(idx.dims, vec![3, 2, 2]);
            assert_eq!(idx.data, (0..12).collect::<Vec<u8>>());
        }
        let labels = encode(&[4], &[1, 2, 3, 9]).expect("valid dims");
        let idx = read_labels(dir.write("labels.gz", &gzip(&labels))).expect("valid file");
        assert_eq!((idx.dims, idx.data), (vec![4], vec![1, 2, 3, 9]));
        // `read` takes any dim count.
        assert_eq!(
            read(dir.write("l", &labels)).expect("valid file").dims,
            vec![4]
        );
    }

    #[test]
    fn idx_bad_magic() {
        let dir = TempDir::new("idx_bad_magic");
        let mut bytes = images_bytes(2);
        bytes[0] = 0x12;
        bytes[1] = 0x34;
        let msg = images_err(&dir, "bad_magic", &bytes);
        assert!(msg.contains("bad magic number 0x12340803"), "{msg}");
        assert!(msg.contains("not an IDX file"), "{msg}");
    }

    #[test]
    fn idx_unsupported_type() {
        let dir = TempDir::new("idx_bad_type");
        let mut bytes = images_bytes(2);
        bytes[2] = 0x0D;
        let msg = images_err(&dir, "f32_type", &bytes);
        assert!(msg.contains("element type 0x0d (f32)"), "{msg}");
    }

    #[test]
    fn idx_wrong_dim_count() {
        let dir = TempDir::new("idx_dims");
        let labels = encode(&[5], &[0; 5]).expect("valid dims");
        let msg = images_err(&dir, "labels_as_images", &labels);
        assert!(
            msg.contains("expected 3 dims (magic 0x00000803), found 1"),
            "{msg}"
        );
        let images = images_bytes(2);
        let path = dir.write("images_as_labels", &images);
        let msg = read_labels(&path).expect_err("3 dims").to_string();
        assert!(
            msg.contains("expected 1 dims (magic 0x00000801), found 3"),
            "{msg}"
        );
    }

    #[test]
    fn idx_truncated_header() {
        let dir = TempDir::new("idx_header");
        let msg = images_err(&dir, "tiny", &[0, 0]);
        assert!(msg.contains("too short"), "{msg}");
        let msg = images_err(&dir, "short_header", &images_bytes(2)[..9]);
        assert!(msg.contains("truncated header"), "{msg}");
    }

    #[test]
    fn idx_truncated_payload() {
        let dir = TempDir::new("idx_truncated");
        let bytes = images_bytes(3);
        let msg = images_err(&dir, "truncated", &bytes[..bytes.len() - 5]);
        assert!(msg.contains("truncated"), "{msg}");
        assert!(msg.contains("expected 12 pixel bytes, found 7"), "{msg}");
        // The same through gzip: the length check runs on the decompressed bytes.
        let msg = images_err(&dir, "truncated.gz", &gzip(&bytes[..bytes.len() - 5]));
        assert!(msg.contains("expected 12 pixel bytes, found 7"), "{msg}");
    }

    #[test]
    fn idx_trailing_bytes() {
        let dir = TempDir::new("idx_trailing");
        let mut bytes = images_bytes(3);
        bytes.extend_from_slice(b"junk");
        let msg = images_err(&dir, "trailing", &bytes);
        assert!(msg.contains("trailing bytes"), "{msg}");
        assert!(msg.contains("expected 12 pixel bytes, found 16"), "{msg}");
    }

    #[test]
    fn idx_corrupt_gzip() {
        let dir = TempDir::new("idx_gzip");
        let packed = gzip(&images_bytes(50));
        // Cut off the end of the deflate stream and the CRC trailer.
        let msg = images_err(&dir, "cut.gz", &packed[..packed.len() / 2]);
        assert!(msg.contains("corrupt gzip stream"), "{msg}");
        // Flip the stored CRC32: the stream decodes but fails its check.
        let mut bad_crc = packed.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 0xff;
        let msg = images_err(&dir, "crc.gz", &bad_crc);
        assert!(msg.contains("corrupt gzip stream"), "{msg}");
    }

    #[test]
    fn idx_missing_file_is_io_error() {
        let dir = TempDir::new("idx_missing");
        let path = dir.path().join("nope");
        match read_images(&path) {
            Err(Error::Io { path: p, .. }) => assert_eq!(p, path.display().to_string()),
            other => panic!("expected Error::Io, got {other:?}"),
        }
    }

    #[test]
    fn idx_encode_checks_length() {
        assert!(encode(&[2, 2], &[0; 3]).is_err());
        assert!(encode(&[1usize << 33], &[]).is_err());
    }
}
