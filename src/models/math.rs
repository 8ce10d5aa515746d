//! Small numeric helpers shared by the detectors: normal tail probabilities and a
//! serializable fixed-capacity ring buffer.

use serde::{Deserialize, Serialize};

/// Complementary error function, relative error below 1.2e-7 everywhere (Chebyshev fit).
pub(crate) fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Probability that a standard normal variable exceeds `z` in absolute value.
pub(crate) fn two_sided_tail(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// Maps a tail probability to a score in `[0, 1]` that keeps resolution for tiny
/// probabilities: `-log10(p) / decades`, capped at 1.
pub(crate) fn surprise(p: f64, decades: f64) -> f64 {
    let p = p.clamp(1e-300, 1.0);
    (-p.log10() / decades).clamp(0.0, 1.0)
}

/// A fixed-capacity FIFO of `f64` that serializes as its contents in arrival order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ring {
    capacity: usize,
    items: std::collections::VecDeque<f64>,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            items: std::collections::VecDeque::with_capacity(capacity.max(1)),
        }
    }

    /// Appends, evicting and returning the oldest item when full.
    pub(crate) fn push(&mut self, x: f64) -> Option<f64> {
        let evicted = if self.items.len() >= self.capacity {
            self.items.pop_front()
        } else {
            None
        };
        self.items.push_back(x);
        evicted
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.items.len() >= self.capacity
    }

    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = f64> + ExactSizeIterator + '_ {
        self.items.iter().copied()
    }

    /// Mean and population standard deviation of the contents.
    pub(crate) fn mean_std(&self) -> (f64, f64) {
        let n = self.items.len();
        if n == 0 {
            return (0.0, 0.0);
        }
        let mean = self.items.iter().sum::<f64>() / n as f64;
        let var = self
            .items
            .iter()
            .map(|x| (x - mean) * (x - mean))
            .sum::<f64>()
            / n as f64;
        (mean, var.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-7);
        assert!((erfc(-1.0) - 1.842_700_793).abs() < 1e-7);
        assert!((erfc(3.0) / 2.209_049_7e-5 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn ring_evicts_oldest_when_full() {
        let mut r = Ring::new(2);
        assert_eq!(r.push(1.0), None);
        assert_eq!(r.push(2.0), None);
        assert_eq!(r.push(3.0), Some(1.0));
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![2.0, 3.0]);
    }
}
