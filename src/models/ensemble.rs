//! The ensemble, Vigil's default detector. Three component measures are each turned into a
//! tail probability, combined by taking the smallest (the strongest evidence), mapped to a
//! score with `-log10(tail) / decades`, and made sparse by one shared quiet span, so an
//! incident seen by several components raises one alert.
//!
//! Components, with their default calibration:
//! - robust seasonal residual ([`super::robust`], smoothed over 12 points), read directly as a
//!   z-score: the primary signal;
//! - extreme values against the last 6400 points ([`super::gaussian`]), calibrated against
//!   their own history ([`TailFit`]) and weakened (tail raised to the power 0.2);
//! - nearest-neighbour novelty of the last 8 values ([`super::knn`]), calibrated the same way
//!   and weakened (power 0.35).
//!
//! Defaults were tuned globally on the NAB corpus (one parameter set for all files): alert level
//! 0.12 (tail about 0.036), quiet span 100 points, damping to 0.

use serde::{Deserialize, Serialize};

use super::Detector;
use super::calibrate::{Likelihood, Quiet, TailFit};
use super::gaussian::{WindowedGaussian, WindowedGaussianParams};
use super::knn::{Knn, KnnParams};
use super::math::{surprise, two_sided_tail};
use super::robust::{SeasonalMad, SeasonalMadParams};

/// How a component's raw measure becomes a tail probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationKind {
    /// Read the measure as a z-score (normal two-sided tail).
    Direct,
    /// Anomaly likelihood: short average against the long-run distribution of averages.
    Likelihood,
    /// Tail fit: peaks over a high quantile of the measure's own history.
    Tail,
}

/// How a component's raw measure becomes a tail probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComponentParams {
    pub enabled: bool,
    pub kind: CalibrationKind,
    /// Upper quantile where [`CalibrationKind::Tail`] starts its exponential fit.
    pub upper: f64,
    pub short: usize,
    pub long: usize,
    pub warmup: usize,
    pub min_std: f64,
    /// Tails are raised to this power: below 1 weakens the component, above 1 strengthens it.
    pub weight: f64,
}

impl Default for ComponentParams {
    fn default() -> Self {
        Self {
            enabled: true,
            kind: CalibrationKind::Tail,
            upper: 0.02,
            short: 1,
            long: 2000,
            warmup: 300,
            min_std: 0.05,
            weight: 1.0,
        }
    }
}

/// Global parameters of [`Ensemble`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnsembleParams {
    pub extreme: WindowedGaussianParams,
    pub extreme_use: ComponentParams,
    pub robust: SeasonalMadParams,
    pub robust_use: ComponentParams,
    pub knn: KnnParams,
    pub knn_use: ComponentParams,
    /// Points seen before any score can be raised.
    pub warmup: usize,
    pub decades: f64,
    pub alert_level: f64,
    pub quiet_span: usize,
    pub quiet_damp: f64,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        Self {
            extreme: WindowedGaussianParams::default(),
            extreme_use: ComponentParams {
                weight: 0.2,
                ..ComponentParams::default()
            },
            robust: SeasonalMadParams::default(),
            robust_use: ComponentParams {
                kind: CalibrationKind::Direct,
                ..ComponentParams::default()
            },
            knn: KnnParams::default(),
            knn_use: ComponentParams {
                weight: 0.35,
                ..ComponentParams::default()
            },
            warmup: 300,
            decades: 12.0,
            alert_level: 0.12,
            quiet_span: 100,
            quiet_damp: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Component {
    params: ComponentParams,
    likelihood: Likelihood,
    fit: TailFit,
}

impl Component {
    fn new(p: ComponentParams) -> Self {
        Self {
            params: p,
            likelihood: Likelihood::new(p.short, p.long, p.warmup, p.min_std),
            fit: TailFit::new(p.long, p.upper, p.warmup, p.min_std),
        }
    }

    fn tail(&mut self, raw: f64) -> f64 {
        let tail = match self.params.kind {
            CalibrationKind::Direct => two_sided_tail(raw),
            CalibrationKind::Likelihood => self.likelihood.update(raw),
            CalibrationKind::Tail => self.fit.update(raw),
        };
        tail.powf(self.params.weight)
    }
}

/// Extreme-value, robust-seasonal and nearest-neighbour evidence, combined, with one quiet span.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ensemble {
    params: EnsembleParams,
    extreme: WindowedGaussian,
    robust: SeasonalMad,
    knn: Knn,
    extreme_use: Component,
    robust_use: Component,
    knn_use: Component,
    seen: usize,
    quiet: Quiet,
}

impl Default for Ensemble {
    fn default() -> Self {
        Self::new(EnsembleParams::default())
    }
}

impl Ensemble {
    pub(crate) fn new(p: EnsembleParams) -> Self {
        Self {
            params: p,
            extreme: WindowedGaussian::new(p.extreme),
            robust: SeasonalMad::new(p.robust),
            knn: Knn::new(p.knn),
            extreme_use: Component::new(p.extreme_use),
            robust_use: Component::new(p.robust_use),
            knn_use: Component::new(p.knn_use),
            seen: 0,
            quiet: Quiet::new(p.alert_level, p.quiet_span, p.quiet_damp),
        }
    }
}

impl Detector for Ensemble {
    fn update(&mut self, timestamp: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let mut tail: f64 = 1.0;
        if self.params.extreme_use.enabled {
            let p = self.extreme.tail(value);
            // The Gaussian tail is already a probability; read it back as a z-score.
            let t = match self.extreme_use.params.kind {
                CalibrationKind::Direct => p.powf(self.extreme_use.params.weight),
                _ => self.extreme_use.tail(-(p.max(1e-300)).ln()),
            };
            tail = tail.min(t);
        }
        if self.params.robust_use.enabled {
            let z = self.robust.residual_z(timestamp, value);
            let raw = match self.robust_use.params.kind {
                CalibrationKind::Direct => z,
                _ => z.ln_1p(),
            };
            tail = tail.min(self.robust_use.tail(raw));
        }
        if self.params.knn_use.enabled
            && let Some(m) = self.knn.log_distance(value)
        {
            tail = tail.min(self.knn_use.tail(m));
        }
        self.seen += 1;
        let score = if self.seen > self.params.warmup {
            surprise(tail, self.params.decades)
        } else {
            0.0
        };
        self.quiet.apply(score)
    }
}
