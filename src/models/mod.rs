//! Streaming anomaly detectors for one numeric series each, and the NAB harness that scores
//! them ([`nab`]).
//!
//! Every detector implements [`Detector`]: it is fed `(timestamp, value)` points in arrival
//! order and returns an anomaly score in `[0, 1]` for each, using only points seen so far. Its
//! state is bounded (fixed-size windows, rings and fitted parameters, never the whole history)
//! and serializable: [`AnyDetector::save`] and [`AnyDetector::restore`] round-trip it through
//! JSON, bit for bit, so a restarted process keeps what it learned of normal behaviour. A flat
//! or empty series raises nothing, and non-finite values score 0 and are not learned.
//!
//! Detectors are looked up by name with [`new_detector`] (or [`new_detector_with`] to override
//! global parameters from JSON). All parameters are global: one set for every series.
//!
//! | name | what it measures |
//! | --- | --- |
//! | `ensemble` (default) | strongest of the three below, one quiet span |
//! | `seasonal_mad` | residual against a level / daily / weekly median baseline |
//! | `knn` | novelty of the recent shape (nearest neighbours) |
//! | `gmm` | density under a Gaussian mixture fitted with linfa |
//! | `windowed_gaussian` | NAB's baseline: distance from a 6400-point mean |
//!
//! Scores are sparse by design: after a score reaches a detector's alert level, the following
//! points are damped, because on NAB (and for on-call humans) every extra alert costs.
//! [`DEFAULT_ALERT_THRESHOLD`] is the alert threshold for the default detector.

use std::fmt;

use serde::{Deserialize, Serialize};

mod calibrate;
mod ensemble;
mod gaussian;
mod gmm;
mod knn;
pub mod live;
mod math;
pub mod nab;
mod robust;
pub mod watch;

pub use calibrate::CalibrationParams;
pub use ensemble::{CalibrationKind, ComponentParams, Ensemble, EnsembleParams};
pub use gaussian::{WindowedGaussian, WindowedGaussianParams};
pub use gmm::{Gmm, GmmParams};
pub use knn::{Knn, KnnParams};
pub use robust::{SeasonalMad, SeasonalMadParams};

/// The detector Vigil uses when none is named.
pub const DEFAULT_DETECTOR: &str = "ensemble";

/// The standard-profile threshold NAB's sweep chooses for [`DEFAULT_DETECTOR`] with default
/// parameters: scores at or above it are alerts. (It sits just under the ensemble's internal
/// alert level, 0.12; `nab::tests` re-derives it from the corpus.)
pub const DEFAULT_ALERT_THRESHOLD: f64 = 0.1199;

/// Names accepted by [`new_detector`], default first.
pub const DETECTOR_NAMES: &[&str] = &[
    "ensemble",
    "seasonal_mad",
    "knn",
    "gmm",
    "windowed_gaussian",
];

/// Why a detector could not be built or restored.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown detector {0:?}; known: {known}", known = DETECTOR_NAMES.join(", "))]
    UnknownDetector(String),
    #[error("detector state is not valid JSON for a known detector: {0}")]
    State(#[from] serde_json::Error),
    #[error("invalid parameters for detector {detector:?}: {source}")]
    Params {
        detector: String,
        source: serde_json::Error,
    },
}

/// A streaming anomaly detector over one series.
pub trait Detector: fmt::Debug + Send {
    /// Feeds the next point and returns its anomaly score in `[0, 1]` (higher is more
    /// anomalous). Timestamps are unix seconds; they may repeat or step back, and non-finite
    /// values are scored 0 and otherwise ignored.
    fn update(&mut self, timestamp_unix_secs: i64, value: f64) -> f64;
}

/// Any registered detector, serializable with its name so that it can be restored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "detector", content = "state", rename_all = "snake_case")]
pub enum AnyDetector {
    Ensemble(Box<Ensemble>),
    SeasonalMad(SeasonalMad),
    Knn(Knn),
    Gmm(Gmm),
    WindowedGaussian(WindowedGaussian),
}

impl AnyDetector {
    /// Serializes the detector, name and learned state, to JSON.
    pub fn save(&self) -> Result<String, ModelError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Rebuilds a detector from [`AnyDetector::save`] output.
    pub fn restore(json: &str) -> Result<Self, ModelError> {
        Ok(serde_json::from_str(json)?)
    }

    /// The registry name of this detector.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ensemble(_) => "ensemble",
            Self::SeasonalMad(_) => "seasonal_mad",
            Self::Knn(_) => "knn",
            Self::Gmm(_) => "gmm",
            Self::WindowedGaussian(_) => "windowed_gaussian",
        }
    }
}

impl Detector for AnyDetector {
    fn update(&mut self, timestamp_unix_secs: i64, value: f64) -> f64 {
        let t = timestamp_unix_secs;
        let score = match self {
            Self::Ensemble(d) => d.update(t, value),
            Self::SeasonalMad(d) => d.update(t, value),
            Self::Knn(d) => d.update(t, value),
            Self::Gmm(d) => d.update(t, value),
            Self::WindowedGaussian(d) => d.update(t, value),
        };
        if score.is_finite() {
            score.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// A fresh detector by registry name, with its default global (not per-series) parameters.
pub fn new_detector(name: &str) -> Result<AnyDetector, ModelError> {
    new_detector_with(name, None)
}

/// A fresh detector by registry name; `params`, when given, is a JSON object overriding some
/// of the detector's global parameters (unknown fields are an error).
pub fn new_detector_with(
    name: &str,
    params: Option<&serde_json::Value>,
) -> Result<AnyDetector, ModelError> {
    fn parse<P: serde::de::DeserializeOwned + Default>(
        name: &str,
        params: Option<&serde_json::Value>,
    ) -> Result<P, ModelError> {
        match params {
            None => Ok(P::default()),
            Some(v) => P::deserialize(v).map_err(|source| ModelError::Params {
                detector: name.to_owned(),
                source,
            }),
        }
    }
    Ok(match name {
        "ensemble" => AnyDetector::Ensemble(Box::new(Ensemble::new(parse(name, params)?))),
        "seasonal_mad" => AnyDetector::SeasonalMad(SeasonalMad::new(parse(name, params)?)),
        "knn" => AnyDetector::Knn(Knn::new(parse(name, params)?)),
        "gmm" => AnyDetector::Gmm(Gmm::new(parse(name, params)?)),
        "windowed_gaussian" => {
            AnyDetector::WindowedGaussian(WindowedGaussian::new(parse(name, params)?))
        }
        other => return Err(ModelError::UnknownDetector(other.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic 5-minute series: daily cycle, noise, and a level shift at `shift_at`.
    fn synthetic(n: usize, shift_at: usize) -> Vec<(i64, f64)> {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let noise = (state % 1000) as f64 / 1000.0 - 0.5;
                let t = 1_400_000_000 + 300 * i as i64;
                let daily = (std::f64::consts::TAU * (t % 86_400) as f64 / 86_400.0).sin();
                let shift = if i >= shift_at { 4.0 } else { 0.0 };
                (t, 10.0 + 3.0 * daily + noise + shift)
            })
            .collect()
    }

    #[test]
    fn every_detector_restored_mid_stream_scores_identically() {
        let series = synthetic(4000, 3000);
        for &name in DETECTOR_NAMES {
            let mut original = new_detector(name).expect("registered");
            for &(t, v) in &series[..2000] {
                original.update(t, v);
            }
            let saved = original.save().expect("saves");
            let mut restored = AnyDetector::restore(&saved).expect("restores");
            assert_eq!(restored.name(), name);
            for &(t, v) in &series[2000..] {
                let a = original.update(t, v);
                let b = restored.update(t, v);
                assert_eq!(a.to_bits(), b.to_bits(), "{name} diverged at t={t}");
            }
        }
    }

    #[test]
    fn flat_and_empty_series_raise_nothing() {
        for &name in DETECTOR_NAMES {
            let empty = new_detector(name).expect("registered");
            let mut restored =
                AnyDetector::restore(&empty.save().expect("saves")).expect("restores");
            for flat in [0.0, 42.5, -1e6] {
                let mut d = new_detector(name).expect("registered");
                let worst = (0..5000)
                    .map(|i| d.update(1_400_000_000 + 300 * i, flat))
                    .fold(0.0, f64::max);
                assert!(
                    worst < 0.05,
                    "{name} scored {worst} on a flat {flat} series"
                );
            }
            assert_eq!(restored.update(0, f64::NAN), 0.0, "{name} scored a NaN");
        }
    }

    #[test]
    fn default_detector_flags_a_level_shift_once() {
        let series = synthetic(5000, 4000);
        let mut d = new_detector(DEFAULT_DETECTOR).expect("registered");
        let scores: Vec<f64> = series.iter().map(|&(t, v)| d.update(t, v)).collect();
        let alerts: Vec<usize> = (0..scores.len())
            .filter(|&i| scores[i] >= DEFAULT_ALERT_THRESHOLD)
            .collect();
        assert!(
            alerts.iter().any(|&i| (4000..4010).contains(&i)),
            "alerts at {alerts:?}"
        );
        let after_shift = alerts
            .iter()
            .filter(|&&i| (4000..4100).contains(&i))
            .count();
        assert_eq!(after_shift, 1, "alerts at {alerts:?}");
    }

    #[test]
    fn unknown_detector_and_bad_params_are_errors() {
        assert!(matches!(
            new_detector("nope"),
            Err(ModelError::UnknownDetector(_))
        ));
        let bad = serde_json::json!({"no_such_knob": 1});
        assert!(matches!(
            new_detector_with("seasonal_mad", Some(&bad)),
            Err(ModelError::Params { .. })
        ));
        assert!(AnyDetector::restore("{}").is_err());
    }
}
