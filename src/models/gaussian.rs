//! Windowed Gaussian: the NAB baseline. Scores a point by how far it lies from the mean of the
//! last `window` points, in standard deviations, as a two-sided normal tail probability.
//! Mean and deviation are refreshed every `step` points, as NAB's baseline does.
//!
//! The score is `-log10(tail) / decades` (capped at 1), which keeps resolution where NAB's
//! threshold sweep needs it. With `quiet_span > 0` the score is made sparse like the other
//! detectors; the default (`quiet_span = 0`) is the plain baseline.
//!
//! State: one ring of `window` values plus a few numbers. Flat series score 0 (no deviation
//! means no evidence, not infinite surprise).

use serde::{Deserialize, Serialize};

use super::Detector;
use super::calibrate::Quiet;
use super::math::{Ring, surprise, two_sided_tail};

/// Global parameters of [`WindowedGaussian`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowedGaussianParams {
    pub window: usize,
    pub step: usize,
    pub decades: f64,
    pub alert_level: f64,
    pub quiet_span: usize,
    pub quiet_damp: f64,
}

impl Default for WindowedGaussianParams {
    fn default() -> Self {
        Self {
            window: 6400,
            step: 100,
            decades: 300.0,
            alert_level: 1.0,
            quiet_span: 0,
            quiet_damp: 1.0,
        }
    }
}

/// The NAB windowed-Gaussian baseline (window 6400, refit every 100 points).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowedGaussian {
    params: WindowedGaussianParams,
    window: Ring,
    since_refit: usize,
    mean: f64,
    std: f64,
    quiet: Quiet,
}

impl Default for WindowedGaussian {
    fn default() -> Self {
        Self::new(WindowedGaussianParams::default())
    }
}

impl WindowedGaussian {
    pub(crate) fn new(params: WindowedGaussianParams) -> Self {
        let params = WindowedGaussianParams {
            step: params.step.max(1),
            ..params
        };
        Self {
            params,
            window: Ring::new(params.window),
            since_refit: 0,
            mean: 0.0,
            std: 0.0,
            quiet: Quiet::new(params.alert_level, params.quiet_span, params.quiet_damp),
        }
    }

    /// Two-sided tail probability of `value` under the current window's Gaussian, learning
    /// from it afterwards.
    pub(crate) fn tail(&mut self, value: f64) -> f64 {
        let floor = 1e-9 * (1.0 + self.mean.abs());
        let deviation = (value - self.mean).abs();
        let tail = if self.std > floor {
            two_sided_tail(deviation / self.std)
        } else if self.window.len() > self.params.step && deviation > floor {
            // A change after a perfectly flat stretch.
            0.0
        } else {
            1.0
        };
        self.window.push(value);
        self.since_refit += 1;
        if self.since_refit >= self.params.step || self.window.len() < self.params.step {
            (self.mean, self.std) = self.window.mean_std();
            self.since_refit = 0;
        }
        tail
    }
}

impl Detector for WindowedGaussian {
    fn update(&mut self, _timestamp: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let score = surprise(self.tail(value), self.params.decades);
        self.quiet.apply(score)
    }
}
