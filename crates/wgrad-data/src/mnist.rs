//! MNIST-format data sets: 8-bit grey images with labels 0–9.
//!
//! [`Mnist`] keeps the pixels as bytes (a quarter of the memory of `f32`, and exactly what the files hold);
//! conversion to normalized floats happens per batch in the [`loader`](crate::loader).
//!
//! Why a bundled set: this crate embeds 10,000 real MNIST digits (`crates/wgrad-data/data/`, see the
//! `README.md` there), so examples and tests train on real data with no download. [`Mnist::bundled_split`] splits them 8,000 / 2,000; the images
//! were shuffled before writing, so both parts have every class. For the full 60,000 / 10,000 MNIST, or
//! Fashion-MNIST (same file names and format; Debian's `dataset-fashion-mnist` installs it in
//! [`FASHION_MNIST_DEBIAN_DIR`]), use [`Mnist::load_dir`].

use std::path::{Path, PathBuf};

use wgrad_graph::Result;

use crate::idx::{self, data_err};

/// Number of classes; every label is below this.
pub const CLASSES: usize = 10;

/// Images in the test part of the bundled layout (the last 2,000; the first 8,000 train).
pub const BUNDLED_TEST: usize = 2_000;

/// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST (four `.gz` files, standard names).
pub const FASHION_MNIST_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// File stems of the standard layout, in the order (train images, train labels, test images, test labels).
/// The first spelling is Yann LeCun's and Zalando's; the second (a dot before `idx`) is a common re-upload's.
const STANDARD: [[&str; 2]; 4] = [
    ["train-images-idx3-ubyte", "train-images.idx3-ubyte"],
    ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
    ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"],
    ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"],
];

/// The bundled digits, compiled in (see `data/README.md` beside the files for their provenance).
const BUNDLED_IMAGES: &[u8] = include_bytes!("../data/images-idx3-ubyte.gz");
const BUNDLED_LABELS: &[u8] = include_bytes!("../data/labels-idx1-ubyte.gz");
/// How errors name the bundled set.
const BUNDLED_SOURCE: &str = "bundled MNIST (wgrad-data)";

/// File stems of the bundled layout: one set of images and labels, split by [`BUNDLED_TEST`].
const BUNDLED: [&str; 2] = ["images-idx3-ubyte", "labels-idx1-ubyte"];

/// An MNIST-format data set: `len()` images of `rows × cols` bytes and one label (0–9) each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mnist {
    /// Pixels, image after image, row-major; `len() * rows * cols` bytes.
    pub images: Vec<u8>,
    /// One label per image, each below [`CLASSES`].
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

impl Mnist {
    /// A data set from bytes already in memory, checked like a loaded one.
    ///
    /// # Errors
    /// `Error::Data` when the image bytes are not a whole number of `rows × cols` images, the counts differ,
    /// or a label is not below [`CLASSES`].
    pub fn new(images: Vec<u8>, labels: Vec<u8>, rows: usize, cols: usize) -> Result<Self> {
        let pixels = rows.checked_mul(cols).unwrap_or(0);
        if pixels == 0 || !images.len().is_multiple_of(pixels) {
            return Err(data_err(
                "mnist",
                format!(
                    "{} image bytes are not a whole number of {rows}x{cols} images",
                    images.len()
                ),
            ));
        }
        check(images, labels, rows, cols, "images", "labels")
    }

    /// Loads an images file (3-D IDX) and its labels file (1-D IDX), each raw or gzip.
    ///
    /// # Errors
    /// `Error::Io` or `Error::Data` naming the file that cannot be read or is not valid IDX (see
    /// [`idx::read`]); `Error::Data` naming the labels file when the counts differ or a label is not below
    /// [`CLASSES`], and naming the images file when the images have no pixels.
    pub fn from_files(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Self> {
        let (images, labels) = (images.as_ref(), labels.as_ref());
        let img = idx::read_images(images)?;
        let lbl = idx::read_labels(labels)?;
        let (rows, cols) = (img.dims[1], img.dims[2]);
        if rows.checked_mul(cols).unwrap_or(0) == 0 {
            return Err(data_err(
                &images.display().to_string(),
                format!("images are {rows}x{cols}, expected a nonzero size"),
            ));
        }
        check(
            img.data,
            lbl.data,
            rows,
            cols,
            &images.display().to_string(),
            &labels.display().to_string(),
        )
    }

    /// All 10,000 bundled digits (28×28), in file order. They are compiled into the crate
    /// (`crates/wgrad-data/data/`, 1.6 MB of gzip), so every binary finds them wherever it runs.
    ///
    /// # Errors
    /// `Error::Data` only if the compiled-in files were corrupted.
    pub fn bundled() -> Result<Self> {
        let img = idx::decode(BUNDLED_SOURCE, BUNDLED_IMAGES, Some(3), "pixel")?;
        let lbl = idx::decode(BUNDLED_SOURCE, BUNDLED_LABELS, Some(1), "label")?;
        check(
            img.data,
            lbl.data,
            img.dims[1],
            img.dims[2],
            BUNDLED_SOURCE,
            BUNDLED_SOURCE,
        )
    }

    /// The bundled digits as (train, test): the first 8,000 and the last 2,000.
    ///
    /// # Errors
    /// As [`Mnist::bundled`].
    pub fn bundled_split() -> Result<(Self, Self)> {
        split_bundled(Self::bundled()?, BUNDLED_SOURCE)
    }

    /// Loads (train, test) from an MNIST-format directory.
    ///
    /// Accepts the standard layout of MNIST and Fashion-MNIST (`train-images-idx3-ubyte`,
    /// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each raw or with `.gz`,
    /// as in [`FASHION_MNIST_DEBIAN_DIR`]), and the bundled layout (`images-idx3-ubyte[.gz]` and
    /// `labels-idx1-ubyte[.gz]`, whose last [`BUNDLED_TEST`] images are the test set).
    ///
    /// # Errors
    /// `Error::Data` naming the directory when it is not one, has neither layout, lacks a file of the
    /// standard layout, or holds train and test images of different sizes (or, in the bundled layout, no
    /// more than [`BUNDLED_TEST`] images); the errors of [`Mnist::from_files`], naming the file.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<(Self, Self)> {
        let dir = dir.as_ref();
        let name = dir.display().to_string();
        if !dir.is_dir() {
            return Err(data_err(&name, "not a directory"));
        }
        let standard = STANDARD.map(|stems| find(dir, &stems));
        if standard.iter().any(Option::is_some) {
            let mut paths = Vec::with_capacity(4);
            for (path, stems) in standard.into_iter().zip(STANDARD) {
                let path = path.ok_or_else(|| {
                    data_err(&name, format!("missing {}[.gz] (MNIST layout)", stems[0]))
                })?;
                paths.push(path);
            }
            let train = Self::from_files(&paths[0], &paths[1])?;
            let test = Self::from_files(&paths[2], &paths[3])?;
            if (train.rows, train.cols) != (test.rows, test.cols) {
                return Err(data_err(
                    &name,
                    format!(
                        "train images are {}x{}, test images {}x{}",
                        train.rows, train.cols, test.rows, test.cols
                    ),
                ));
            }
            return Ok((train, test));
        }
        if let [Some(images), Some(labels)] = BUNDLED.map(|stem| find(dir, &[stem])) {
            return split_bundled(Self::from_files(images, labels)?, &name);
        }
        Err(data_err(
            &name,
            "no MNIST files: expected train-images-idx3-ubyte, train-labels-idx1-ubyte, \
             t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (raw or .gz), \
             or images-idx3-ubyte.gz and labels-idx1-ubyte.gz",
        ))
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image (`rows * cols`).
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`, row-major. Panics when `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        let p = self.pixels();
        &self.images[i * p..(i + 1) * p]
    }

    /// The label of image `i`. Panics when `i >= len()`, like slice indexing.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// How many images each class has.
    pub fn class_counts(&self) -> [usize; CLASSES] {
        let mut counts = [0; CLASSES];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// (the first `n` images, the rest).
    ///
    /// # Errors
    /// `Error::Data` when `n > len()`.
    pub fn split_at(mut self, n: usize) -> Result<(Self, Self)> {
        if n > self.len() {
            return Err(data_err(
                "mnist",
                format!("split at {n}: only {} images", self.len()),
            ));
        }
        let images = self.images.split_off(n * self.pixels());
        let labels = self.labels.split_off(n);
        let rest = Mnist {
            images,
            labels,
            rows: self.rows,
            cols: self.cols,
        };
        Ok((self, rest))
    }
}

/// (all but the last [`BUNDLED_TEST`] images, the last [`BUNDLED_TEST`]).
fn split_bundled(all: Mnist, source: &str) -> Result<(Mnist, Mnist)> {
    let n = all.len();
    if n <= BUNDLED_TEST {
        return Err(data_err(
            source,
            format!("{n} images: the bundled layout needs more than {BUNDLED_TEST} (the last {BUNDLED_TEST} are the test set)"),
        ));
    }
    all.split_at(n - BUNDLED_TEST)
}

/// `dir/stem` or `dir/stem.gz` for the first stem that exists (raw preferred: no decompression).
fn find(dir: &Path, stems: &[&str]) -> Option<PathBuf> {
    stems
        .iter()
        .flat_map(|stem| [dir.join(stem), dir.join(format!("{stem}.gz"))])
        .find(|p| p.is_file())
}

/// Checks that counts agree and labels are below [`CLASSES`]; errors name the labels source.
fn check(
    images: Vec<u8>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
    images_src: &str,
    labels_src: &str,
) -> Result<Mnist> {
    let n_images = images.len() / rows.saturating_mul(cols).max(1);
    if labels.len() != n_images {
        return Err(data_err(
            labels_src,
            format!(
                "{} labels, but {images_src} has {n_images} images",
                labels.len()
            ),
        ));
    }
    if let Some((i, &l)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= CLASSES)
    {
        return Err(data_err(
            labels_src,
            format!("label {l} at index {i} is out of range (labels are 0 to 9)"),
        ));
    }
    Ok(Mnist {
        images,
        labels,
        rows,
        cols,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode;
    use crate::test_util::{gzip, TempDir};

    /// `n` 2x3 images whose pixels are `i + j`, labels `i % 10`.
    fn tiny(n: usize) -> (Vec<u8>, Vec<u8>) {
        let images = (0..n)
            .flat_map(|i| (0..6).map(move |j| (i + j) as u8))
            .collect();
        let labels = (0..n).map(|i| (i % 10) as u8).collect();
        (images, labels)
    }

    /// Writes `tiny(n)` as an images file and a labels file, gzip-compressed where asked.
    fn write_set(dir: &TempDir, images: &str, labels: &str, n: usize, gz: [bool; 2]) {
        let (img, lbl) = tiny(n);
        let files = [
            (images, encode(&[n, 2, 3], &img).expect("valid dims")),
            (labels, encode(&[n], &lbl).expect("valid dims")),
        ];
        for ((name, bytes), gz) in files.into_iter().zip(gz) {
            dir.write(name, &if gz { gzip(&bytes) } else { bytes });
        }
    }

    #[test]
    fn mnist_count_mismatch() {
        let dir = TempDir::new("mnist_mismatch");
        let (img, lbl) = tiny(5);
        let images = dir.write("img", &encode(&[5, 2, 3], &img).expect("valid dims"));
        let labels = dir.write("lbl", &encode(&[4], &lbl[..4]).expect("valid dims"));
        let msg = Mnist::from_files(&images, &labels)
            .expect_err("4 labels for 5 images")
            .to_string();
        assert!(msg.contains(&labels.display().to_string()), "{msg}");
        assert!(msg.contains(&images.display().to_string()), "{msg}");
        assert!(msg.contains("4 labels, but"), "{msg}");
        assert!(msg.contains("has 5 images"), "{msg}");
    }

    #[test]
    fn mnist_label_out_of_range() {
        let dir = TempDir::new("mnist_label");
        let (img, mut lbl) = tiny(5);
        lbl[3] = 10;
        let images = dir.write("img", &encode(&[5, 2, 3], &img).expect("valid dims"));
        let labels = dir.write("lbl.gz", &gzip(&encode(&[5], &lbl).expect("valid dims")));
        let msg = Mnist::from_files(&images, &labels)
            .expect_err("label 10")
            .to_string();
        assert!(msg.contains(&labels.display().to_string()), "{msg}");
        assert!(msg.contains("label 10 at index 3 is out of range"), "{msg}");
    }

    #[test]
    fn mnist_new_checks() {
        let (img, lbl) = tiny(4);
        let m = Mnist::new(img.clone(), lbl.clone(), 2, 3).expect("valid");
        assert_eq!((m.len(), m.pixels()), (4, 6));
        assert_eq!(m.image(2), &[2, 3, 4, 5, 6, 7]);
        assert_eq!(m.label(3), 3);
        assert!(Mnist::new(img[..5].to_vec(), lbl.clone(), 2, 3).is_err());
        assert!(Mnist::new(img.clone(), lbl[..3].to_vec(), 2, 3).is_err());
        assert!(Mnist::new(img, vec![0, 1, 2, 200], 2, 3).is_err());
    }

    #[test]
    fn mnist_split_at() {
        let (img, lbl) = tiny(7);
        let m = Mnist::new(img, lbl, 2, 3).expect("valid");
        let (a, b) = m.clone().split_at(5).expect("5 <= 7");
        assert_eq!((a.len(), b.len()), (5, 2));
        assert_eq!(b.image(0), m.image(5));
        assert_eq!(b.labels, vec![5, 6]);
        assert_eq!(a.images.len(), 30);
        assert!(m.split_at(8).is_err());
    }

    #[test]
    fn mnist_load_dir_standard_layout() {
        let dir = TempDir::new("mnist_standard");
        // Mixed raw and gzip, as a partly unpacked download would be.
        let names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte"];
        write_set(&dir, names[0], names[1], 12, [true, false]);
        let names = ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz"];
        write_set(&dir, names[0], names[1], 3, [false, true]);
        let (train, test) = Mnist::load_dir(dir.path()).expect("valid layout");
        assert_eq!((train.len(), test.len()), (12, 3));
        assert_eq!((train.rows, train.cols), (2, 3));
        assert_eq!(test.labels, vec![0, 1, 2]);
    }

    #[test]
    fn mnist_load_dir_missing_file() {
        let dir = TempDir::new("mnist_missing");
        write_set(
            &dir,
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            4,
            [false; 2],
        );
        write_set(&dir, "t10k-images-idx3-ubyte", "other", 4, [false; 2]);
        let msg = Mnist::load_dir(dir.path())
            .expect_err("no t10k labels")
            .to_string();
        assert!(msg.contains("missing t10k-labels-idx1-ubyte"), "{msg}");
        let empty = TempDir::new("mnist_empty");
        let msg = Mnist::load_dir(empty.path())
            .expect_err("empty dir")
            .to_string();
        assert!(msg.contains("no MNIST files"), "{msg}");
    }

    #[test]
    fn mnist_load_dir_bundled_layout() {
        let dir = TempDir::new("mnist_bundled_layout");
        write_set(
            &dir,
            "images-idx3-ubyte.gz",
            "labels-idx1-ubyte.gz",
            2_005,
            [true; 2],
        );
        let (train, test) = Mnist::load_dir(dir.path()).expect("bundled layout");
        assert_eq!((train.len(), test.len()), (5, BUNDLED_TEST));
        assert_eq!(test.label(0), 5);
        let small = TempDir::new("mnist_bundled_small");
        write_set(
            &small,
            "images-idx3-ubyte",
            "labels-idx1-ubyte",
            100,
            [false; 2],
        );
        assert!(Mnist::load_dir(small.path()).is_err());
    }

    /// Runs only where Debian's `dataset-fashion-mnist` is installed; nothing else depends on it.
    #[test]
    fn mnist_load_dir_fashion_debian() {
        if !Path::new(FASHION_MNIST_DEBIAN_DIR).is_dir() {
            eprintln!("skipped: {FASHION_MNIST_DEBIAN_DIR} not installed");
            return;
        }
        let (train, test) = Mnist::load_dir(FASHION_MNIST_DEBIAN_DIR).expect("Fashion-MNIST");
        assert_eq!((train.len(), test.len()), (60_000, 10_000));
        assert_eq!((train.rows, train.cols), (28, 28));
        assert_eq!(train.class_counts(), [6_000; CLASSES]);
        assert_eq!(test.class_counts(), [1_000; CLASSES]);
    }
}
