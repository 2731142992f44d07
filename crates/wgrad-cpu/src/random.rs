//! Counter-based random numbers (Philox 4x32-10), identical on every backend.

use wgrad_graph::{philox, Buffer, Meta, RandomDist};

use crate::buffer::output;

/// Element `i` is `philox::{uniform, normal, bernoulli}(seed, offset, i)` (an f32 sample), rounded to
/// `out.dtype`. Because each element depends only on its counter `offset + i`, the GPU computes the same
/// numbers in any order.
pub(crate) fn random(dist: RandomDist, seed: u64, offset: u64, out: &Meta) -> Buffer {
    let data = (0..out.numel() as u64).map(|i| {
        f64::from(match dist {
            RandomDist::Uniform => philox::uniform(seed, offset, i),
            RandomDist::Normal => philox::normal(seed, offset, i),
            RandomDist::Bernoulli { p } => philox::bernoulli(seed, offset, i, p),
        })
    });
    output(out, data.collect())
}
