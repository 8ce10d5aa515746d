//! Gaussian-mixture detector, the model-fitting member of the family: a mixture of `k` full-
//! covariance Gaussians is fitted with linfa (EM, seeded, so runs are reproducible) to the
//! standardized feature vectors of the last `buffer` points and refitted every `refit` points.
//! Each point's features are `[value, change since the previous point, mean of the last
//! `span` points minus the mean of the `span` before]`; its raw measure is the negative
//! log-density under the current mixture, calibrated against its own history
//! ([`super::calibrate::TailFit`]) and made sparse by a quiet span.
//!
//! State is bounded (`buffer` feature vectors, `2 * span` values, the fitted parameters) and
//! fully serializable: the fitted mixture is kept as plain numbers, so a restored detector
//! scores identically without refitting.

use linfa::prelude::*;
use linfa_clustering::GaussianMixtureModel;
use ndarray::Array2;
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use super::Detector;
use super::calibrate::{Quiet, TailFit};
use super::math::{Ring, surprise};

/// Number of features per point.
const DIM: usize = 3;
/// Seed of the EM initialisation, fixed so that fits are reproducible.
const SEED: u64 = 42;

/// Global parameters of [`Gmm`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GmmParams {
    /// Mixture components.
    pub k: usize,
    /// Feature vectors kept for fitting.
    pub buffer: usize,
    /// Refit every this many points.
    pub refit: usize,
    /// Points in each half of the level-change feature.
    pub span: usize,
    /// Trailing raw measures used for calibration.
    pub history: usize,
    /// Upper quantile where the calibration's exponential tail starts.
    pub upper: f64,
    pub decades: f64,
    pub alert_level: f64,
    pub quiet_span: usize,
    pub quiet_damp: f64,
}

impl Default for GmmParams {
    fn default() -> Self {
        Self {
            k: 3,
            buffer: 1000,
            refit: 500,
            span: 6,
            history: 2000,
            upper: 0.01,
            decades: 12.0,
            alert_level: 0.3,
            quiet_span: 100,
            quiet_damp: 0.0,
        }
    }
}

/// A fitted mixture over standardized features, as plain numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Mixture {
    /// Per-feature mean and deviation used to standardize.
    center: [f64; DIM],
    scale: [f64; DIM],
    /// Per component: `ln(weight) - ln(det Σ) / 2`.
    log_norm: Vec<f64>,
    /// `k * DIM` means.
    means: Vec<f64>,
    /// `k * DIM * DIM` precision matrices, row-major.
    precisions: Vec<f64>,
}

impl Mixture {
    /// Negative log-density of `x` (up to a constant).
    fn nll(&self, x: &[f64; DIM]) -> f64 {
        let mut z = [0.0; DIM];
        for j in 0..DIM {
            z[j] = (x[j] - self.center[j]) / self.scale[j];
        }
        let logs: Vec<f64> = self
            .log_norm
            .iter()
            .enumerate()
            .map(|(c, &norm)| {
                let mu = &self.means[c * DIM..(c + 1) * DIM];
                let p = &self.precisions[c * DIM * DIM..(c + 1) * DIM * DIM];
                let mut quad = 0.0;
                for a in 0..DIM {
                    for b in 0..DIM {
                        quad += (z[a] - mu[a]) * p[a * DIM + b] * (z[b] - mu[b]);
                    }
                }
                norm - 0.5 * quad
            })
            .collect();
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = logs.iter().map(|l| (l - top).exp()).sum();
        -(top + sum.ln())
    }
}

/// Log-determinant of a small symmetric positive-definite matrix by Cholesky; `None` if it is
/// not positive definite.
fn log_det_spd(m: &[f64], n: usize) -> Option<f64> {
    let mut l = vec![0.0; n * n];
    let mut log_det = 0.0;
    for i in 0..n {
        for j in 0..=i {
            let mut sum = m[i * n + j];
            for k in 0..j {
                sum -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if sum <= 0.0 {
                    return None;
                }
                l[i * n + i] = sum.sqrt();
                log_det += 2.0 * l[i * n + i].ln();
            } else {
                l[i * n + j] = sum / l[j * n + j];
            }
        }
    }
    Some(log_det)
}

/// The Gaussian-mixture detector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gmm {
    params: GmmParams,
    values: Ring,
    /// Feature vectors, `DIM` numbers each, oldest first.
    features: Vec<f64>,
    since_fit: usize,
    /// Whether a first fit has been attempted.
    tried: bool,
    mixture: Option<Mixture>,
    calibration: TailFit,
    quiet: Quiet,
}

impl Default for Gmm {
    fn default() -> Self {
        Self::new(GmmParams::default())
    }
}

impl Gmm {
    pub(crate) fn new(params: GmmParams) -> Self {
        let params = GmmParams {
            k: params.k.max(1),
            buffer: params.buffer.max(10),
            refit: params.refit.max(1),
            span: params.span.max(1),
            ..params
        };
        Self {
            params,
            values: Ring::new(2 * params.span + 1),
            features: Vec::with_capacity(params.buffer * DIM),
            since_fit: 0,
            tried: false,
            mixture: None,
            calibration: TailFit::new(params.history, params.upper, 100, 0.05),
            quiet: Quiet::new(params.alert_level, params.quiet_span, params.quiet_damp),
        }
    }

    fn features_of(&self) -> Option<[f64; DIM]> {
        if !self.values.is_full() {
            return None;
        }
        let v: Vec<f64> = self.values.iter().collect();
        let n = v.len();
        let span = self.params.span;
        let newest = v[n - 1];
        let recent = v[n - span..].iter().sum::<f64>() / span as f64;
        let before = v[n - 2 * span..n - span].iter().sum::<f64>() / span as f64;
        Some([newest, newest - v[n - 2], recent - before])
    }

    /// Fits a fresh mixture to the buffered features; keeps the old one if EM fails and drops
    /// it if the features have stopped varying.
    fn fit(&mut self) {
        let rows = self.features.len() / DIM;
        let mut center = [0.0; DIM];
        let mut scale = [0.0; DIM];
        let mut varying = false;
        for j in 0..DIM {
            let column = self.features.iter().skip(j).step_by(DIM);
            let mean = column.clone().sum::<f64>() / rows as f64;
            let var = column.map(|x| (x - mean) * (x - mean)).sum::<f64>() / rows as f64;
            center[j] = mean;
            let moves = var.sqrt() > 1e-9 * (1.0 + mean.abs());
            varying |= moves;
            scale[j] = if moves { var.sqrt() } else { 1.0 };
        }
        if !varying {
            // A flat stretch: nothing to model, and nothing to flag.
            self.mixture = None;
            return;
        }
        let standardized: Vec<f64> = self
            .features
            .iter()
            .enumerate()
            .map(|(i, x)| (x - center[i % DIM]) / scale[i % DIM])
            .collect();
        let Ok(records) = Array2::from_shape_vec((rows, DIM), standardized) else {
            return;
        };
        let fitted = GaussianMixtureModel::params_with_rng(
            self.params.k,
            Xoshiro256Plus::seed_from_u64(SEED),
        )
        .n_runs(1)
        .max_n_iterations(100)
        .tolerance(1e-4)
        .reg_covariance(1e-3)
        .fit(&DatasetBase::from(records));
        let model = match fitted {
            Ok(model) => model,
            Err(error) => {
                tracing::debug!(%error, "gmm refit failed; keeping the previous mixture");
                return;
            }
        };
        let k = model.weights().len();
        let mut log_norm = Vec::with_capacity(k);
        let precisions: Vec<f64> = model.precisions().iter().copied().collect();
        for c in 0..k {
            let p = &precisions[c * DIM * DIM..(c + 1) * DIM * DIM];
            let Some(log_det_p) = log_det_spd(p, DIM) else {
                return;
            };
            // det Σ = 1 / det P
            log_norm.push(model.weights()[c].max(1e-300).ln() + 0.5 * log_det_p);
        }
        self.mixture = Some(Mixture {
            center,
            scale,
            log_norm,
            means: model.means().iter().copied().collect(),
            precisions,
        });
    }
}

impl Detector for Gmm {
    fn update(&mut self, _timestamp: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        self.values.push(value);
        let Some(x) = self.features_of() else {
            return 0.0;
        };
        let score = match &self.mixture {
            Some(mixture) => surprise(
                self.calibration.update(mixture.nll(&x)),
                self.params.decades,
            ),
            None => 0.0,
        };
        if self.features.len() >= self.params.buffer * DIM {
            self.features.drain(..DIM);
        }
        self.features.extend_from_slice(&x);
        self.since_fit += 1;
        let rows = self.features.len() / DIM;
        let first = !self.tried && rows >= self.params.buffer.min(300);
        if first || (self.tried && self.since_fit >= self.params.refit) {
            self.fit();
            self.tried = true;
            self.since_fit = 0;
        }
        self.quiet.apply(score)
    }
}
