//! Deterministic randomness: every random choice the simulator makes comes from a
//! [`Rng`] derived from the run's seed and labels naming what it is for (a bot, a
//! minute, the schedule). Streams never share state, so the telemetry of one bot in one
//! minute does not change when another bot or minute does, and the same seed always
//! gives the same bytes.

use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A seeded xoshiro256++ generator with the distributions the simulator needs.
#[derive(Debug, Clone)]
pub(crate) struct Rng(Xoshiro256PlusPlus);

/// SplitMix64's finaliser: a bijective mix with good avalanche, used to derive seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// The stream named by `labels` under `seed`.
    pub(crate) fn derive(seed: u64, labels: &[u64]) -> Rng {
        let mut state = mix(seed);
        for &label in labels {
            state = mix(state ^ mix(label));
        }
        Rng(Xoshiro256PlusPlus::seed_from_u64(state))
    }

    pub(crate) fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [lo, hi] (both inclusive).
    pub(crate) fn int_in(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo).max(0) as u64 + 1;
        lo + (self.u64() % span) as i64
    }

    /// An index into a non-empty collection of `len` items, uniformly.
    pub(crate) fn index(&mut self, len: usize) -> usize {
        (self.u64() % len.max(1) as u64) as usize
    }

    /// One item of a non-empty slice, uniformly. The slices are the simulator's own
    /// constant catalogues, never empty.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// One item of a non-empty slice of `(item, weight)` pairs, in proportion to weight.
    pub(crate) fn weighted<T: Copy>(&mut self, items: &[(T, f64)]) -> T {
        let total: f64 = items.iter().map(|(_, w)| w).sum();
        let mut target = self.unit() * total;
        for (item, weight) in items {
            if target < *weight {
                return *item;
            }
            target -= weight;
        }
        items[items.len() - 1].0
    }

    /// Standard normal (Box–Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal with the given median and log-space standard deviation.
    pub(crate) fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Poisson-distributed count with mean `lambda` (Knuth below 30, normal above).
    pub(crate) fn poisson(&mut self, lambda: f64) -> u32 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda >= 30.0 {
            let x = lambda + lambda.sqrt() * self.normal();
            return x.round().max(0.0) as u32;
        }
        let limit = (-lambda).exp();
        let mut product = self.unit();
        let mut count = 0;
        while product > limit {
            product *= self.unit();
            count += 1;
        }
        count
    }

    /// `N` random bytes, never all zero (OTLP treats all-zero trace and span ids as
    /// invalid).
    pub(crate) fn id<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let bytes = self.u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        out[0] |= 1;
        out
    }

    /// Lower-case hex of `n` random bytes.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| format!("{:02x}", self.u64() as u8))
            .collect()
    }

    /// A random (version 4 layout) UUID.
    pub(crate) fn uuid(&mut self) -> String {
        let a = self.u64();
        let b = self.u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_labels_give_the_same_stream_and_other_labels_another() {
        let a: Vec<u64> = (0..4).map(|_| Rng::derive(7, &[1, 2]).u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::derive(7, &[1, 2]).u64(), Rng::derive(7, &[2, 1]).u64());
        assert_ne!(Rng::derive(7, &[1, 2]).u64(), Rng::derive(8, &[1, 2]).u64());
    }

    #[test]
    fn poisson_and_lognormal_have_the_requested_centre() {
        let mut rng = Rng::derive(1, &[]);
        let n = 20_000;
        let mean = (0..n).map(|_| rng.poisson(3.5) as f64).sum::<f64>() / n as f64;
        assert!((mean - 3.5).abs() < 0.1, "{mean}");
        let mut draws: Vec<f64> = (0..n).map(|_| rng.lognormal(2.0, 0.5)).collect();
        draws.sort_by(f64::total_cmp);
        let median = draws[n / 2];
        assert!((median - 2.0).abs() < 0.08, "{median}");
    }

    #[test]
    fn uuids_have_the_version_4_layout() {
        let id = Rng::derive(3, &[]).uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    }
}
