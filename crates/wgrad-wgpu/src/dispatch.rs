//! What a kernel launch is made of, as plain data: the WGSL [`Shader`] it comes from, the [`Bind`]ings, the
//! [`Grid`] and the [`Dispatch`] that carries them to [`crate::engine::Recorder::dispatch`]. The pipeline
//! cache keys on these; the engine records them.

use wgrad_graph::{Buffer, DType, Error, Result};

use crate::texture::Texture;

/// One WGSL file (one kernel family). `source` comes from `include_str!("../../shaders/<name>.wgsl")`,
/// or from a generator (`kernels::elementwise`).
#[derive(Debug)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
}

/// Workgroup grid. `Linear(n)`: n workgroups in total; the engine folds it into a 2-D grid when
/// n > max_compute_workgroups_per_dimension, and the shader recovers the linear workgroup id as
/// `wid.x + wid.y * nwg.x`. `Xyz` is passed through; a dim over the limit is an `Error::LimitExceeded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grid {
    Linear(u32),
    Xyz([u32; 3]),
}

/// One resource a kernel binds. A kernel's resources take bindings `0..n` in order; the engine adds the
/// params block (uniform, u32 words padded to 16 bytes) at binding `n` and, for checked kernels, the device
/// error flag at `n+1`. Most kernels bind their inputs as `Read` and then one `ReadWrite` output.
#[derive(Clone, Copy, Debug)]
pub enum Bind<'a> {
    /// `var<storage, read>`
    Read(&'a Buffer),
    /// `var<storage, read_write>`
    ReadWrite(&'a Buffer),
    /// `texture_2d_array<f32>` of [`crate::texture::FORMAT`], read with `textureLoad`.
    Texture(&'a Texture),
    /// `texture_storage_2d_array<rgba32float, write>`.
    StorageTexture(&'a Texture),
}

/// The kind of a [`Bind`]: what a bind group layout is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BindKind {
    Read,
    ReadWrite,
    Texture,
    StorageTexture,
}

impl Bind<'_> {
    pub fn kind(&self) -> BindKind {
        match self {
            Bind::Read(_) => BindKind::Read,
            Bind::ReadWrite(_) => BindKind::ReadWrite,
            Bind::Texture(_) => BindKind::Texture,
            Bind::StorageTexture(_) => BindKind::StorageTexture,
        }
    }

    /// `inputs` read-only, then `output` read-write: the binding list of most kernels.
    pub fn io<'a>(inputs: &[&'a Buffer], output: &'a Buffer) -> Vec<Bind<'a>> {
        let mut v: Vec<Bind<'a>> = inputs.iter().map(|&b| Bind::Read(b)).collect();
        v.push(Bind::ReadWrite(output));
        v
    }
}

/// One kernel launch.
#[derive(Debug)]
pub struct Dispatch<'a> {
    pub shader: &'static Shader,
    pub entry: &'static str,
    /// Substituted into the line `alias T = f32;` (bool is stored as u32).
    pub dtype: DType,
    /// WGSL `override` constants.
    pub overrides: &'a [(&'static str, f64)],
    /// Bindings `0..n`, see [`Bind`].
    pub bindings: &'a [Bind<'a>],
    pub params: &'a [u32],
    pub grid: Grid,
}

/// `value` as a u32 shader word, or `LimitExceeded` (the shaders index with u32).
pub fn word(op: &'static str, what: &str, value: usize) -> Result<u32> {
    u32::try_from(value).map_err(|_| Error::LimitExceeded {
        op,
        what: what.to_string(),
        value: value as u64,
        limit_name: "u32 index range of the wgpu kernels",
        limit: u32::MAX as u64,
    })
}

/// Every value as a u32 shader word.
pub fn words(op: &'static str, values: &[usize]) -> Result<Vec<u32>> {
    values
        .iter()
        .map(|&v| word(op, "size, stride or offset", v))
        .collect()
}

/// Folds a grid into at most `max` workgroups per dimension.
pub fn fold_grid(op: &'static str, grid: Grid, max: u32) -> Result<[u32; 3]> {
    let over = |value: u32| Error::LimitExceeded {
        op,
        what: "workgroups in one dimension".to_string(),
        value: value as u64,
        limit_name: "max_compute_workgroups_per_dimension",
        limit: max as u64,
    };
    match grid {
        Grid::Linear(n) if n <= max => Ok([n, 1, 1]),
        Grid::Linear(n) => {
            let y = n.div_ceil(max);
            if y > max {
                return Err(over(y));
            }
            Ok([n.div_ceil(y), y, 1])
        }
        Grid::Xyz(g) => match g.iter().find(|&&d| d > max) {
            Some(&d) => Err(over(d)),
            None => Ok(g),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_grid_goes_2d_past_the_dimension_limit() {
        assert_eq!(
            fold_grid("x", Grid::Linear(10), 65535).ok(),
            Some([10, 1, 1])
        );
        let [x, y, z] = fold_grid("x", Grid::Linear(65537), 65535).expect("fits in 2-D");
        assert!(x <= 65535 && y == 2 && z == 1 && x * y >= 65537);
        assert!(fold_grid("x", Grid::Linear(u32::MAX), 1000).is_err());
        assert!(fold_grid("x", Grid::Xyz([70000, 1, 1]), 65535).is_err());
    }
}
