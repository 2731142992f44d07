//! Philox 4x32-10, the counter-based generator behind every random op (Salmon et al., "Parallel random
//! numbers: as easy as 1, 2, 3", SC 2011).
//!
//! Element `i` of a random tensor with `(seed, offset)` is computed from counter `n = offset + i` alone, so any
//! backend computes any element independently and identically; `shaders/random.wgsl` implements this file.
//!
//! - counter `[n_lo, n_hi, 0, 0]`, key `[seed_lo, seed_hi]`, ten rounds, key bumped between rounds
//! - uniform: `(x0 >> 8) · 2⁻²⁴` in `[0, 1)` (exact in f32)
//! - normal: Box-Muller in f32, `u1 = ((x0 >> 8) + 1) · 2⁻²⁴` in `(0, 1]`, `u2 = (x1 >> 8) · 2⁻²⁴`,
//!   `sqrt(-2 ln u1) · cos(2π u2)`
//! - bernoulli(p): `uniform < p`

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// The raw generator: ten rounds of Philox 4x32.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The four raw words for element `index` of a tensor drawn with `(seed, offset)`.
pub fn words(seed: u64, offset: u64, index: u64) -> [u32; 4] {
    let n = offset.wrapping_add(index);
    philox4x32_10(
        [n as u32, (n >> 32) as u32, 0, 0],
        [seed as u32, (seed >> 32) as u32],
    )
}

const INV_2_24: f32 = 1.0 / 16_777_216.0;

/// Uniform sample in `[0, 1)`.
pub fn uniform(seed: u64, offset: u64, index: u64) -> f32 {
    (words(seed, offset, index)[0] >> 8) as f32 * INV_2_24
}

/// Standard normal sample.
pub fn normal(seed: u64, offset: u64, index: u64) -> f32 {
    let w = words(seed, offset, index);
    let u1 = ((w[0] >> 8) + 1) as f32 * INV_2_24;
    let u2 = (w[1] >> 8) as f32 * INV_2_24;
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// 1 with probability `p`.
pub fn bernoulli(seed: u64, offset: u64, index: u64, p: f64) -> f32 {
    if (uniform(seed, offset, index) as f64) < p {
        1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer tests from the Random123 distribution (`kat_vectors`, philox4x32 with 10 rounds).
    #[test]
    fn philox_matches_random123_known_answers() {
        assert_eq!(
            philox4x32_10([0, 0, 0, 0], [0, 0]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn uniform_moments_are_right() {
        let n = 100_000;
        let xs: Vec<f64> = (0..n).map(|i| uniform(7, 0, i) as f64).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 0.002, "var {var}");
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn normal_moments_are_right() {
        let n = 100_000;
        let xs: Vec<f64> = (0..n).map(|i| normal(3, 5, i) as f64).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }
}
