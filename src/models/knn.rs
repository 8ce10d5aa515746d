//! Contextual nearest-neighbour detector (in the spirit of KNN-CAD): the last `dim` values form
//! a context vector; its non-conformity is the mean distance to its `k` nearest neighbours
//! among the last `memory` past contexts (contexts overlapping the current one are excluded).
//! The log of that distance is calibrated against the series' own history.
//!
//! Scores respond to shapes never seen recently (new levels, spikes, changed oscillation),
//! not only to extreme values. State: `2 * dim` recent values and `memory * dim` stored
//! context numbers.

use serde::{Deserialize, Serialize};

use super::Detector;
use super::calibrate::{Calibrated, CalibrationParams};
use super::math::Ring;

/// Global parameters of [`Knn`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnnParams {
    pub dim: usize,
    pub memory: usize,
    pub k: usize,
    pub calibration: CalibrationParams,
}

impl Default for KnnParams {
    fn default() -> Self {
        Self {
            dim: 8,
            memory: 800,
            k: 4,
            calibration: CalibrationParams::default(),
        }
    }
}

/// The contextual nearest-neighbour detector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Knn {
    params: KnnParams,
    values: Ring,
    /// Past contexts, `dim` numbers each, written round-robin.
    contexts: Vec<f64>,
    next_slot: usize,
    stored: usize,
    /// Largest |value| seen, for a scale-aware distance floor that is constant on flat series.
    level: f64,
    calibrated: Calibrated,
}

impl Default for Knn {
    fn default() -> Self {
        Self::new(KnnParams::default())
    }
}

impl Knn {
    pub(crate) fn new(params: KnnParams) -> Self {
        let dim = params.dim.max(1);
        let params = KnnParams {
            dim,
            memory: params.memory.max(1),
            k: params.k.max(1),
            ..params
        };
        Self {
            params,
            values: Ring::new(2 * dim),
            contexts: Vec::new(),
            next_slot: 0,
            stored: 0,
            level: 0.0,
            calibrated: Calibrated::new(&params.calibration),
        }
    }

    /// Log non-conformity of the context ending at `value`, learning from it afterwards.
    pub(crate) fn log_distance(&mut self, value: f64) -> Option<f64> {
        let dim = self.params.dim;
        self.values.push(value);
        if !self.values.is_full() {
            return None;
        }
        let window: Vec<f64> = self.values.iter().collect();
        let (older, current) = window.split_at(dim);
        self.level = self.level.max(value.abs());
        let floor = 1e-6 * (1.0 + self.level);
        let measure = if self.stored >= self.params.k {
            let mut best = vec![f64::INFINITY; self.params.k];
            for ctx in self.contexts.chunks_exact(dim).take(self.stored) {
                let d2: f64 = ctx
                    .iter()
                    .zip(current)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                if d2 < best[best.len() - 1] {
                    let mut i = best.len() - 1;
                    while i > 0 && best[i - 1] > d2 {
                        best[i] = best[i - 1];
                        i -= 1;
                    }
                    best[i] = d2;
                }
            }
            let mean = best.iter().map(|d2| d2.sqrt()).sum::<f64>() / best.len() as f64;
            Some((mean / dim as f64 + floor).ln())
        } else {
            None
        };
        // Store the context that ended `dim` points ago: it no longer overlaps the current one.
        let memory = self.params.memory;
        if self.contexts.len() < memory * dim {
            self.contexts.extend_from_slice(older);
        } else {
            let at = self.next_slot * dim;
            self.contexts[at..at + dim].copy_from_slice(older);
        }
        self.next_slot = (self.next_slot + 1) % memory;
        self.stored = (self.stored + 1).min(memory);
        measure
    }
}

impl Detector for Knn {
    fn update(&mut self, _timestamp: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        match self.log_distance(value) {
            Some(m) => self.calibrated.update(m),
            None => 0.0,
        }
    }
}
