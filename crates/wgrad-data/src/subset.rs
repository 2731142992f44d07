//! [`Subset`]: some samples of a data set, by index, as a data set of their own (PyTorch's `Subset`).
//!
//! What it is for: a process of a data-parallel job evaluates its shard of the test set
//! (`Subset::new(&test, shard)`), or a run trains on a chosen part of the data, without copying images.

use wgrad_graph::{Error, Result};

use crate::loader::Dataset;

/// The samples `indices` of `data`, in that order: sample `i` of the subset is sample `indices[i]` of `data`.
#[derive(Debug, Clone)]
pub struct Subset<D> {
    data: D,
    indices: Vec<usize>,
}

impl<D: Dataset> Subset<D> {
    /// # Errors
    /// `Error::Argument` when an index is not below `data.len()`.
    pub fn new(data: D, indices: Vec<usize>) -> Result<Self> {
        let n = data.len();
        if let Some(bad) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::argument(
                "subset",
                format!("index {bad} out of range for a data set of {n} samples"),
            ));
        }
        Ok(Subset { data, indices })
    }

    /// The indices into the underlying data set.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    pub fn inner(&self) -> &D {
        &self.data
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn image_shape(&self) -> [usize; 3] {
        self.data.image_shape()
    }
    fn image(&self, i: usize) -> &[u8] {
        self.data.image(self.indices[i])
    }
    fn label(&self, i: usize) -> i32 {
        self.data.label(self.indices[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mnist;

    /// Five 1×1 images whose pixel is `10·i` and whose label is `i`.
    fn five() -> Mnist {
        Mnist::new(vec![0, 10, 20, 30, 40], vec![0, 1, 2, 3, 4], 1, 1).expect("valid")
    }

    #[test]
    fn subset_maps_indices() {
        let data = five();
        let sub = Subset::new(&data, vec![4, 1, 1]).expect("in range");
        assert_eq!(sub.len(), 3);
        assert_eq!(sub.image_shape(), [1, 1, 1]);
        assert_eq!(
            (0..3)
                .map(|i| (sub.image(i)[0], sub.label(i)))
                .collect::<Vec<_>>(),
            vec![(40, 4), (10, 1), (10, 1)]
        );
        assert!(Subset::new(&data, Vec::new()).expect("empty").is_empty());
    }

    #[test]
    fn subset_rejects_out_of_range() {
        let data = five();
        let err = Subset::new(&data, vec![0, 5]).expect_err("5 is out of range");
        assert!(err.to_string().contains("index 5 out of range"), "{err}");
    }
}
