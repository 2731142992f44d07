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
//!
//! A hostile or broken file cannot make the reader allocate more than it justifies: the header is read first
//! and its dims multiplied with checked arithmetic; a raw file's payload must then be exactly what is left
//! of the file before anything is allocated for it, and a gzip stream is read to at most the payload length
//! plus one byte (to see trailing data), after checking that the compressed size can hold the payload at all
//! (deflate expands at most [`MAX_DEFLATE_RATIO`]-fold). A header claiming 2^31 × 2^31 × 2^31 bytes, or a
//! small gzip bomb, is refused without reading on.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use wgrad_graph::{Error, Result};

/// The IDX element type code for unsigned bytes.
pub const TYPE_U8: u8 = 0x08;
/// Magic number of a 3-D `u8` file (MNIST images: count, rows, cols).
pub const MAGIC_IMAGES: u32 = 0x0000_0803;
/// Magic number of a 1-D `u8` file (MNIST labels).
pub const MAGIC_LABELS: u32 = 0x0000_0801;
/// The most a deflate stream expands: 258 bytes per 2-bit code ("the maximum compression factor is 1032:1",
/// zlib's technical details), so a gzip file of `n` bytes decompresses to at most `1032 * n`.
pub const MAX_DEFLATE_RATIO: usize = 1032;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A `u8` array read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    /// Sizes of the dimensions, outermost first (`[count, rows, cols]` for images).
    pub dims: Vec<usize>,
    /// The elements in row-major order; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

/// Reads a `u8` IDX file with any number of dimensions, raw or gzip.
///
/// # Errors
/// `Error::Io` when the file cannot be opened or read; `Error::Data` naming the file when it is not a `u8`
/// IDX file, its header is truncated, its payload is shorter or longer than the dims say, or its gzip
/// stream is corrupt.
pub fn read(path: impl AsRef<Path>) -> Result<Idx> {
    read_with(path.as_ref(), None, "data")
}

/// Reads a 3-D `u8` IDX file (magic `0x00000803`): images as `[count, rows, cols]`.
///
/// # Errors
/// As [`read`], and `Error::Data` when the file does not have 3 dims.
pub fn read_images(path: impl AsRef<Path>) -> Result<Idx> {
    read_with(path.as_ref(), Some(3), "pixel")
}

/// Reads a 1-D `u8` IDX file (magic `0x00000801`): one label per sample.
///
/// # Errors
/// As [`read`], and `Error::Data` when the file does not have 1 dim.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Idx> {
    read_with(path.as_ref(), Some(1), "label")
}

fn read_with(path: &Path, ndim: Option<usize>, what: &str) -> Result<Idx> {
    let name = path.display().to_string();
    let io = |source| Error::Io {
        path: name.clone(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let mut file = BufReader::new(file);
    let gzip = file.fill_buf().map_err(io)?.starts_with(&GZIP_MAGIC);
    let spec = Spec {
        name: &name,
        ndim,
        what,
    };
    if gzip {
        read_idx(&spec, &mut MultiGzDecoder::new(file), Size::Gzip(size))
    } else {
        read_idx(&spec, &mut file, Size::Exact(size))
    }
}

/// Parses an IDX file held in memory, raw or gzip (`name` names it in errors).
///
/// # Errors
/// As [`read`], with `Error::Data` for every problem.
pub fn decode(name: &str, bytes: &[u8], ndim: Option<usize>, what: &str) -> Result<Idx> {
    let spec = Spec { name, ndim, what };
    if bytes.starts_with(&GZIP_MAGIC) {
        read_idx(
            &spec,
            &mut MultiGzDecoder::new(bytes),
            Size::Gzip(bytes.len()),
        )
    } else {
        read_idx(&spec, &mut &bytes[..], Size::Exact(bytes.len()))
    }
}

/// Parses the (already decompressed) bytes of an IDX file.
///
/// `path` only names the source in errors. `ndim`, when given, is the required number of dimensions; `what`
/// names an element in the length message (`"expected 7840000 pixel bytes, found 1234"`).
///
/// # Errors
/// `Error::Data` naming `path`, as [`read`].
pub fn parse(path: &str, bytes: &[u8], ndim: Option<usize>, what: &str) -> Result<Idx> {
    let spec = Spec {
        name: path,
        ndim,
        what,
    };
    read_idx(&spec, &mut &bytes[..], Size::Exact(bytes.len()))
}

/// What is being read: the source's name for errors, the required dim count, the element's name.
struct Spec<'a> {
    name: &'a str,
    ndim: Option<usize>,
    what: &'a str,
}

/// How much a source holds: exactly this many bytes (a raw file), or a gzip stream of this many
/// compressed bytes.
#[derive(Clone, Copy)]
enum Size {
    Exact(usize),
    Gzip(usize),
}

impl Spec<'_> {
    fn err(&self, msg: impl Into<String>) -> Error {
        data_err(self.name, msg)
    }

    /// A read error: `Error::Io` on a raw file, a corrupt stream in a gzip one.
    fn read_err(&self, size: Size, e: std::io::Error) -> Error {
        match size {
            Size::Exact(_) => Error::Io {
                path: self.name.to_string(),
                source: e,
            },
            Size::Gzip(_) => self.err(format!("corrupt gzip stream: {e}")),
        }
    }

    /// The payload-length error: `found` bytes where the dims need `expected`.
    fn length_err(&self, dims: &[usize], expected: usize, found: &str, short: bool) -> Error {
        let kind = if short { "truncated" } else { "trailing bytes" };
        let what = self.what;
        self.err(format!(
            "{kind}: dims {dims:?}: expected {expected} {what} bytes, found {found}"
        ))
    }
}

/// Reads into `buf` until it is full or the source ends; returns the bytes read.
fn fill(src: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads and checks the header (magic and dims); returns the dims, the payload length they imply (checked
/// arithmetic) and the header length.
fn read_header(
    spec: &Spec<'_>,
    src: &mut dyn Read,
    size: Size,
) -> Result<(Vec<usize>, usize, usize)> {
    let mut magic = [0u8; 4];
    let got = fill(src, &mut magic).map_err(|e| spec.read_err(size, e))?;
    if got < 4 {
        let file = match size {
            Size::Exact(_) => "file",
            Size::Gzip(_) => "decompressed file",
        };
        return Err(spec.err(format!(
            "{file} is {got} bytes, too short for the 4-byte IDX magic number"
        )));
    }
    let n = check_magic(spec, magic)?;
    let header = 4 + 4 * n;
    let mut dim_bytes = vec![0u8; 4 * n];
    let got = fill(src, &mut dim_bytes).map_err(|e| spec.read_err(size, e))?;
    if got < dim_bytes.len() {
        return Err(spec.err(format!(
            "truncated header: {n} dims need {header} header bytes, file has {}",
            4 + got
        )));
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| spec.err(format!("dims {dims:?} overflow the address space")))?;
    Ok((dims, expected, header))
}

/// Checks the magic number; returns the number of dims.
fn check_magic(spec: &Spec<'_>, magic: [u8; 4]) -> Result<usize> {
    let magic_u32 = u32::from_be_bytes(magic);
    if magic[0] != 0 || magic[1] != 0 {
        return Err(spec.err(format!(
            "bad magic number 0x{magic_u32:08x}: not an IDX file (the first two bytes must be zero)"
        )));
    }
    if magic[2] != TYPE_U8 {
        return Err(spec.err(format!(
            "bad magic number 0x{magic_u32:08x}: element type 0x{:02x} ({}) is not supported, expected u8 (0x08)",
            magic[2],
            type_name(magic[2])
        )));
    }
    let n = usize::from(magic[3]);
    match spec.ndim {
        Some(want) if n != want => Err(spec.err(format!(
            "bad magic number 0x{magic_u32:08x}: expected {want} dims (magic 0x{:08x}), found {n}",
            0x0800 | want
        ))),
        _ => Ok(n),
    }
}

/// Reads an IDX file from `src`, allocating no more than `size` justifies (see the module docs).
fn read_idx(spec: &Spec<'_>, src: &mut dyn Read, size: Size) -> Result<Idx> {
    let (dims, expected, header) = read_header(spec, src, size)?;
    let capacity = match size {
        Size::Exact(total) => {
            let found = total.saturating_sub(header);
            if found != expected {
                return Err(spec.length_err(&dims, expected, &found.to_string(), found < expected));
            }
            expected
        }
        Size::Gzip(packed) => {
            let most = packed.saturating_mul(MAX_DEFLATE_RATIO);
            if expected > most {
                let found = format!("{packed} bytes of gzip, which decompress to at most {most}");
                return Err(spec.length_err(&dims, expected, &found, true));
            }
            // grow with the data actually decompressed, not with what the header claims
            expected.min(packed.saturating_mul(4)).saturating_add(1)
        }
    };
    let mut data = Vec::with_capacity(capacity);
    let limit = u64::try_from(expected)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    src.take(limit)
        .read_to_end(&mut data)
        .map_err(|e| spec.read_err(size, e))?;
    if data.len() != expected {
        let found = if data.len() > expected {
            "more".to_string()
        } else {
            data.len().to_string()
        };
        return Err(spec.length_err(&dims, expected, &found, data.len() < expected));
    }
    Ok(Idx { dims, data })
}

/// The bytes of an uncompressed `u8` IDX file holding `data` with shape `dims` (the inverse of [`parse`]).
///
/// # Errors
/// `Error::Argument` when `dims` has more than 255 entries, a size does not fit in `u32`, or `data.len()` is
/// not the product of `dims`.
pub fn encode(dims: &[usize], data: &[u8]) -> Result<Vec<u8>> {
    let bad = |msg: String| Error::argument("idx::encode", msg);
    let n =
        u8::try_from(dims.len()).map_err(|_| bad(format!("{} dims, at most 255", dims.len())))?;
    let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if count != Some(data.len()) {
        return Err(bad(format!(
            "dims {dims:?} do not hold {} elements",
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

    /// An IDX header with `dims`, and no payload.
    fn header_only(dims: &[u32]) -> Vec<u8> {
        let mut out = vec![0, 0, TYPE_U8, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    /// Headers claiming absurd sizes are refused from the header and the file size alone. Had the reader
    /// allocated what they claim (2^63 bytes, 2^40 bytes) first, the allocation would abort the test run.
    #[test]
    fn idx_huge_dims_refused_before_allocating() {
        let dir = TempDir::new("idx_huge");
        let big = 1u32 << 31;
        // 2^93 elements: the product overflows
        let msg = images_err(&dir, "overflow", &header_only(&[big, big, big]));
        assert!(msg.contains("overflow the address space"), "{msg}");
        // 2^63 elements claimed by a 16-byte raw file
        let mut bytes = header_only(&[big, big, 2]);
        let msg = images_err(&dir, "huge_raw", &bytes);
        assert!(
            msg.contains("expected 9223372036854775808 pixel bytes, found 0"),
            "{msg}"
        );
        // the same header in gzip, with a little payload: 2^63 > 1032 x the compressed size
        bytes.extend_from_slice(&[7; 100]);
        let msg = images_err(&dir, "huge.gz", &gzip(&bytes));
        assert!(msg.contains("which decompress to at most"), "{msg}");
        // 2^40 bytes: fits the address space, not the file
        let msg = images_err(
            &dir,
            "tera.gz",
            &gzip(&header_only(&[1 << 20, 1 << 10, 1 << 10])),
        );
        assert!(msg.contains("expected 1099511627776 pixel bytes"), "{msg}");
        // a label file claiming 4 billion labels
        let path = dir.write("labels", &header_only(&[u32::MAX]));
        let msg = read_labels(&path).expect_err("no payload").to_string();
        assert!(
            msg.contains("expected 4294967295 label bytes, found 0"),
            "{msg}"
        );
    }

    /// A gzip bomb: a header for 2x2x2 images followed by 64 MiB of zeros (about 64 KB compressed). The
    /// reader stops one byte past the payload the header allows, instead of inflating it all.
    #[test]
    fn idx_gzip_bomb_stops_at_the_header_length() {
        let dir = TempDir::new("idx_bomb");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        std::io::Write::write_all(&mut enc, &header_only(&[2, 2, 2])).expect("in memory");
        for _ in 0..64 {
            std::io::Write::write_all(&mut enc, &zeros).expect("in memory");
        }
        let bomb = enc.finish().expect("in memory");
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        let msg = images_err(&dir, "bomb.gz", &bomb);
        assert!(
            msg.contains("trailing bytes: dims [2, 2, 2]: expected 8 pixel bytes, found more"),
            "{msg}"
        );
        // the same stream from memory
        let msg = decode("bomb", &bomb, Some(3), "pixel")
            .expect_err("bomb")
            .to_string();
        assert!(msg.starts_with("bomb: trailing bytes"), "{msg}");
    }

    #[test]
    fn idx_decode_and_parse_from_memory() {
        let bytes = images_bytes(2);
        let want = (vec![2, 2, 2], (0..8).collect::<Vec<u8>>());
        for file in [bytes.clone(), gzip(&bytes)] {
            let idx = decode("mem", &file, Some(3), "pixel").expect("valid");
            assert_eq!((idx.dims, idx.data), want);
        }
        let idx = parse("mem", &bytes, None, "data").expect("valid");
        assert_eq!(idx.dims, want.0);
        let msg = parse("mem", &bytes[..10], None, "data")
            .expect_err("cut")
            .to_string();
        assert!(msg.starts_with("mem: truncated"), "{msg}");
        // gzip with trailing bytes after the payload, and a gzip stream too short for the magic
        let mut long = bytes.clone();
        long.push(1);
        let msg = decode("mem", &gzip(&long), Some(3), "pixel").expect_err("trailing");
        assert!(msg.to_string().contains("found more"), "{msg}");
        let msg = decode("mem", &gzip(&[0, 0]), Some(3), "pixel").expect_err("short");
        assert!(
            msg.to_string().contains("decompressed file is 2 bytes"),
            "{msg}"
        );
    }

    #[test]
    fn idx_encode_checks_length() {
        assert!(encode(&[2, 2], &[0; 3]).is_err());
        assert!(encode(&[1usize << 33], &[]).is_err());
        assert!(encode(&[usize::MAX, 2], &[]).is_err());
    }
}
