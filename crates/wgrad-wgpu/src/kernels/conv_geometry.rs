//! The geometry both convolution paths share: which [`Pass`] runs, and the `Dims` of one convolution,
//! checked against its params.

use wgrad_graph::{Conv2dParams, Error, Result};

use crate::kernels::words;

/// The three convolution kernels: the forward pass and its adjoints in the input and in the weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// `(x, w) → y`
    Forward,
    /// `(dy, w) → dx`
    BackwardInput,
    /// `(x, dy) → dw`
    BackwardWeight,
}

impl Pass {
    /// The op name, also the entry point in `conv2d.wgsl`.
    pub fn op(self) -> &'static str {
        match self {
            Pass::Forward => "conv2d",
            Pass::BackwardInput => "conv2d_backward_input",
            Pass::BackwardWeight => "conv2d_backward_weight",
        }
    }

    pub(crate) fn input_names(self) -> [&'static str; 2] {
        match self {
            Pass::Forward => ["x", "weight"],
            Pass::BackwardInput => ["dy", "weight"],
            Pass::BackwardWeight => ["x", "dy"],
        }
    }

    /// The shapes of x, w and y, from the two inputs and the output.
    pub(crate) fn shapes<'a>(
        self,
        a: &'a [usize],
        b: &'a [usize],
        out: &'a [usize],
    ) -> [&'a [usize]; 3] {
        match self {
            Pass::Forward => [a, b, out],
            Pass::BackwardInput => [out, b, a],
            Pass::BackwardWeight => [a, out, b],
        }
    }
}

/// `[N, C_in, H, W, C_out, OH, OW, KH, KW]`, checked against `p`.
pub(crate) struct Dims(pub(crate) [usize; 9]);

impl Dims {
    pub(crate) fn new(
        op: &'static str,
        p: &Conv2dParams,
        x: &[usize],
        w: &[usize],
        y: &[usize],
    ) -> Result<Dims> {
        let bad = || {
            Error::shape(
                op,
                format!(
                    "x {x:?}, weight {w:?}, y {y:?} do not fit stride {:?} padding {:?} dilation {:?} groups {}",
                    p.stride, p.padding, p.dilation, p.groups
                ),
            )
        };
        if x.len() != 4 || w.len() != 4 || y.len() != 4 || p.groups == 0 {
            return Err(bad());
        }
        let (oh, ow) = (p.out_size(0, x[2], w[2]), p.out_size(1, x[3], w[3]));
        // (`w[1]·groups == x[1]` makes C_in a multiple of groups)
        let fits = w[0].is_multiple_of(p.groups)
            && w[1] * p.groups == x[1]
            && oh.is_some_and(|oh| oh == y[2])
            && ow.is_some_and(|ow| ow == y[3])
            && y[0] == x[0]
            && y[1] == w[0];
        if !fits {
            return Err(bad());
        }
        Ok(Dims([x[0], x[1], x[2], x[3], w[0], y[2], y[3], w[2], w[3]]))
    }

    /// The params block in the header's order.
    pub(crate) fn params(
        &self,
        op: &'static str,
        p: &Conv2dParams,
        numel: usize,
        offs: [usize; 2],
    ) -> Result<Vec<u32>> {
        let mut v = vec![numel];
        v.extend(self.geometry(p));
        let [c_in, c_out] = [self.0[1], self.0[4]];
        v.extend([c_in / p.groups, c_out / p.groups, offs[0], offs[1]]);
        words(op, &v)
    }

    /// `n, c_in, h, w, c_out, oh, ow, kh, kw`, then stride, padding and dilation (each (y, x)): the words
    /// every convolution kernel's params start with (after its own leading words).
    pub(crate) fn geometry(&self, p: &Conv2dParams) -> [usize; 15] {
        let [n, c_in, h, w, c_out, oh, ow, kh, kw] = self.0;
        let [sh, sw] = p.stride;
        let [ph, pw] = p.padding;
        let [dh, dw] = p.dilation;
        [n, c_in, h, w, c_out, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw]
    }
}
