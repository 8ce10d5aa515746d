//! Probability that a page-level burn starts within 1 h, 6 h or 48 h.
//!
//! The caller builds one [`FeatureRow`] per time step (typically every 5 minutes) and lists the
//! times at which pages started. For each horizon `h` a logistic regression is trained on
//!
//! ```text
//! label(t) = 1  if some page starts in (t, t + h],  else 0
//! ```
//!
//! # Guarantees
//!
//! - **No look-ahead.** A row is labelled only when its whole outcome window is known, i.e.
//!   `t + h <= cutoff` (the training cut-off). Later rows are left out of training rather than
//!   labelled negative.
//! - **No guess from thin data.** A horizon is only trained when the history spans at least
//!   [`TrainConfig::min_days`], contains [`TrainConfig::min_page_events`] page starts and enough
//!   positive and negative rows; otherwise that horizon answers with an
//!   [`InsufficientHistory`] saying what is missing.
//! - **Rare positives.** Features are standardised with the training rows' mean and standard
//!   deviation. Positive rows are replicated `w = round(negatives / positives)` times (capped
//!   at [`MAX_POSITIVE_WEIGHT`]), which is class weighting by an integer weight. Because
//!   weighting shifts the fitted log-odds by `ln w`, `ln w` is subtracted from the intercept
//!   afterwards (prior correction) so the output is a probability at the real base rate, not
//!   at a 50/50 one.
//!
//! # Features
//!
//! [`FEATURE_NAMES`] lists the model inputs in order. Burn rates, latency and traffic enter
//! as `ln(1 + x)` (they are heavy-tailed and non-negative); time of day and day of week (UTC)
//! enter as sine/cosine pairs computed from the row time.

use std::fmt;

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// Names of the model inputs, in the order [`FeatureRow::features`] returns them.
pub const FEATURE_NAMES: [&str; 20] = [
    "ln1p_burn_rate_5m",
    "ln1p_burn_rate_1h",
    "ln1p_burn_rate_6h",
    "burn_rate_1h_trend",
    "ln1p_burn_rate_day_median",
    "burn_rate_day_over_week",
    "rate_limited_per_request_24h",
    "ln_latency_p95_ratio",
    "anomaly_score_max",
    "share_rate_limited",
    "share_timeout",
    "share_5xx",
    "ln1p_latency_p95_ms",
    "ln1p_traffic_rps",
    "hour_of_day_sin",
    "hour_of_day_cos",
    "day_of_week_sin",
    "day_of_week_cos",
    "version_changed_recently",
    "rate_limited_hours_24h",
];

/// Number of model inputs.
pub const FEATURE_COUNT: usize = FEATURE_NAMES.len();

/// The inputs a horizon longer than [`SHORT_HORIZON_MAX_SECS`] uses, all that describe the
/// last day against the week before; the other coefficients of such a model stay 0. A page
/// more than 6 h away is announced by slow changes, and the hour-scale inputs are noise
/// there: on three simulated 56-day fleets, this moved 48 h precision from 0.59, 0.55 and
/// 0.52 (every input but the last hour's burn) to 1.00, 0.52 and 1.00, and the recall of
/// incidents with a precursor from 0.90, 1.00 and 1.00 to 0.60, 0.86 and 1.00.
pub const SLOW_FEATURES: [&str; 3] = [
    "ln1p_burn_rate_day_median",
    "burn_rate_day_over_week",
    "rate_limited_hours_24h",
];

/// The inputs only the slow horizons use: on the same fleets, the rate-limited hours
/// lowered 6 h recall (0.53, 0.59, 0.68 to 0.47, 0.48, 0.68).
pub const SLOW_ONLY_FEATURES: [&str; 1] = ["rate_limited_hours_24h"];

/// The longest horizon that uses the hour-scale inputs (all but [`SLOW_ONLY_FEATURES`]).
pub const SHORT_HORIZON_MAX_SECS: i64 = 6 * 3_600;

/// Whether the model of `horizon_secs` uses the input named `feature`.
pub fn uses_feature(horizon_secs: i64, feature: &str) -> bool {
    if horizon_secs > SHORT_HORIZON_MAX_SECS {
        SLOW_FEATURES.contains(&feature)
    } else {
        !SLOW_ONLY_FEATURES.contains(&feature)
    }
}

/// Positive rows are replicated at most this many times.
pub const MAX_POSITIVE_WEIGHT: usize = 200;

/// The usual horizons: 1 h, 6 h and 48 h, in seconds.
pub const DEFAULT_HORIZONS_SECS: [i64; 3] = [3_600, 6 * 3_600, 48 * 3_600];

const SECS_PER_DAY: f64 = 86_400.0;

/// Why training or prediction failed for a reason other than thin history.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("feature row {index} (time {time}) has a non-finite {feature}")]
    NonFinite {
        index: usize,
        time: i64,
        feature: &'static str,
    },
    #[error("feature rows must be in strictly increasing time order; row {index} is not")]
    Unordered { index: usize },
    #[error("horizon {0} s is not positive")]
    Horizon(i64),
    #[error("logistic regression for the {horizon_secs} s horizon failed: {reason}")]
    Fit { horizon_secs: i64, reason: String },
}

/// Observations for one time step, built by the caller from Vigil's stored aggregates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureRow {
    /// End of the step, unix seconds (UTC).
    pub time: i64,
    /// Burn rate (error ratio divided by the allowed error ratio) over the last 5 minutes.
    pub burn_rate_5m: f64,
    pub burn_rate_1h: f64,
    pub burn_rate_6h: f64,
    /// Change of the 1 h burn rate over the last hour.
    pub burn_rate_1h_trend: f64,
    /// Median 1 h burn rate of the last 24 hours, and how far it lies above the median of
    /// the week before: the slow rise that precedes some incidents by a day or two. (A
    /// median, so that the day after an incident does not look like one.)
    #[serde(default)]
    pub burn_rate_day_median: f64,
    #[serde(default)]
    pub burn_rate_day_over_week: f64,
    /// Rate-limited (429/529) requests per request over the last 24 hours.
    #[serde(default)]
    pub rate_limited_per_request_24h: f64,
    /// Latency p95 of the last hour divided by its median over the day before (1 when
    /// either is unknown).
    #[serde(default)]
    pub latency_p95_ratio: f64,
    /// Highest anomaly score among the SLO's signals in the step, in [0, 1].
    pub anomaly_score_max: f64,
    /// Shares of failed requests by cause, each in [0, 1]: 429/529 rate limits, timeouts, 5xx.
    /// These and `rate_limited_per_request_24h` come from the SLO's service; the feature
    /// builder scales them by how well the SLO's errors follow the service's failures.
    pub share_rate_limited: f64,
    pub share_timeout: f64,
    pub share_5xx: f64,
    pub latency_p95_ms: f64,
    /// Requests per second.
    pub traffic_rps: f64,
    /// A new service or model version was deployed within the caller's look-back (e.g. 6 h).
    pub version_changed_recently: bool,
    /// Hours of the last 24 in which some request was rate limited (429/529), from the SLO's
    /// service; the feature builder scales it by how well the SLO's errors follow the
    /// service's rate limiting. A quota running out is preceded by rate limiting on more
    /// and more hours, while a stray 429 touches one.
    #[serde(default)]
    pub rate_limited_hours_24h: f64,
}

impl FeatureRow {
    /// The model inputs, in [`FEATURE_NAMES`] order.
    pub fn features(&self) -> [f64; FEATURE_COUNT] {
        let ln1p = |x: f64| x.max(0.0).ln_1p();
        let day_secs = self.time.rem_euclid(86_400) as f64;
        let hour_angle = std::f64::consts::TAU * day_secs / SECS_PER_DAY;
        // 1970-01-01 was a Thursday; the phase does not matter, only the 7-day period.
        let week_secs = self.time.rem_euclid(7 * 86_400) as f64;
        let week_angle = std::f64::consts::TAU * week_secs / (7.0 * SECS_PER_DAY);
        [
            ln1p(self.burn_rate_5m),
            ln1p(self.burn_rate_1h),
            ln1p(self.burn_rate_6h),
            self.burn_rate_1h_trend,
            ln1p(self.burn_rate_day_median),
            self.burn_rate_day_over_week,
            self.rate_limited_per_request_24h,
            if self.latency_p95_ratio > 0.0 {
                self.latency_p95_ratio.ln()
            } else {
                0.0
            },
            self.anomaly_score_max,
            self.share_rate_limited,
            self.share_timeout,
            self.share_5xx,
            ln1p(self.latency_p95_ms),
            ln1p(self.traffic_rps),
            hour_angle.sin(),
            hour_angle.cos(),
            week_angle.sin(),
            week_angle.cos(),
            if self.version_changed_recently {
                1.0
            } else {
                0.0
            },
            self.rate_limited_hours_24h,
        ]
    }
}

/// Minimum history and fitting settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub horizons_secs: Vec<i64>,
    /// The labelled rows must span at least this many days.
    pub min_days: f64,
    /// At least this many page starts must fall in the labelled period.
    pub min_page_events: usize,
    pub min_positive_rows: usize,
    pub min_negative_rows: usize,
    /// L2 penalty of the logistic regression.
    pub l2: f64,
    pub max_iterations: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            horizons_secs: DEFAULT_HORIZONS_SECS.to_vec(),
            min_days: 7.0,
            min_page_events: 3,
            min_positive_rows: 6,
            min_negative_rows: 50,
            l2: 1.0,
            max_iterations: 200,
        }
    }
}

/// What a horizon's training data lacked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Shortfall {
    /// No row could be labelled (all outcome windows reach past the cut-off).
    NoLabelledRows,
    Days {
        have: f64,
        need: f64,
    },
    PageEvents {
        have: usize,
        need: usize,
    },
    PositiveRows {
        have: usize,
        need: usize,
    },
    NegativeRows {
        have: usize,
        need: usize,
    },
}

/// A horizon for which no model was trained, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsufficientHistory {
    pub horizon_secs: i64,
    pub shortfall: Shortfall,
}

impl fmt::Display for InsufficientHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "insufficient history for the {} page probability: ",
            horizon_label(self.horizon_secs)
        )?;
        match &self.shortfall {
            Shortfall::NoLabelledRows => write!(
                f,
                "no feature row is old enough for its outcome window to be known"
            ),
            Shortfall::Days { have, need } => write!(
                f,
                "labelled history spans {have:.1} days, at least {need:.1} are needed"
            ),
            Shortfall::PageEvents { have, need } => write!(
                f,
                "{have} page(s) started in the labelled history, at least {need} are needed"
            ),
            Shortfall::PositiveRows { have, need } => write!(
                f,
                "{have} row(s) precede a page within the horizon, at least {need} are needed"
            ),
            Shortfall::NegativeRows { have, need } => write!(
                f,
                "{have} row(s) are not followed by a page, at least {need} are needed"
            ),
        }
    }
}

impl std::error::Error for InsufficientHistory {}

/// `"1 h"`, `"6 h"`, `"48 h"`, or seconds when not a whole number of hours.
pub fn horizon_label(secs: i64) -> String {
    if secs % 3_600 == 0 {
        format!("{} h", secs / 3_600)
    } else {
        format!("{secs} s")
    }
}

/// A trained model for one horizon: standardisation, coefficients and what it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HorizonModel {
    pub horizon_secs: i64,
    pub feature_names: Vec<String>,
    pub means: Vec<f64>,
    pub scales: Vec<f64>,
    /// Coefficients on the standardised features.
    pub coefficients: Vec<f64>,
    /// Intercept after prior correction.
    pub intercept: f64,
    /// Replication weight given to positive rows.
    pub positive_weight: usize,
    pub positive_rows: usize,
    pub negative_rows: usize,
    pub page_events: usize,
    /// Time of the first and last labelled row.
    pub train_start: i64,
    pub train_end: i64,
    /// The probability at and above which this horizon warns, learned on the training
    /// period by whoever trained the model (the pooled trainer:
    /// [`crate::predict::threshold::tuned_threshold`]); `None` when it was not learned.
    #[serde(default)]
    pub warning_threshold: Option<f64>,
}

impl HorizonModel {
    /// Probability that a page starts within the horizon after `row.time`.
    pub fn probability(&self, row: &FeatureRow) -> f64 {
        let x = row.features();
        let z = self.intercept
            + x.iter()
                .zip(&self.means)
                .zip(&self.scales)
                .zip(&self.coefficients)
                .map(|(((v, m), s), c)| c * (v - m) / s)
                .sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }
}

/// The outcome of training one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HorizonFit {
    Ready(HorizonModel),
    InsufficientHistory(InsufficientHistory),
}

/// A prediction for one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BurnProbability {
    Probability { horizon_secs: i64, probability: f64 },
    InsufficientHistory(InsufficientHistory),
}

/// One model per horizon, or the reason there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurnClassifier {
    pub horizons: Vec<HorizonFit>,
}

impl BurnClassifier {
    /// Trains one model per horizon on `rows` (strictly increasing in time) with the given
    /// page start times; only outcomes known by `cutoff` (unix seconds) are used.
    pub fn train(
        rows: &[FeatureRow],
        page_starts: &[i64],
        cutoff: i64,
        config: &TrainConfig,
    ) -> Result<Self, ClassifyError> {
        validate_rows(rows)?;
        let horizons = config
            .horizons_secs
            .iter()
            .map(
                |&h| match train_horizon(rows, page_starts, cutoff, h, config)? {
                    Ok(model) => Ok(HorizonFit::Ready(model)),
                    Err(short) => Ok(HorizonFit::InsufficientHistory(short)),
                },
            )
            .collect::<Result<_, ClassifyError>>()?;
        Ok(Self { horizons })
    }

    /// One answer per horizon, in training order.
    pub fn predict(&self, row: &FeatureRow) -> Vec<BurnProbability> {
        self.horizons
            .iter()
            .map(|fit| match fit {
                HorizonFit::Ready(model) => BurnProbability::Probability {
                    horizon_secs: model.horizon_secs,
                    probability: model.probability(row),
                },
                HorizonFit::InsufficientHistory(short) => {
                    BurnProbability::InsufficientHistory(short.clone())
                }
            })
            .collect()
    }

    /// The model for a horizon, if one was trained.
    pub fn model(&self, horizon_secs: i64) -> Option<&HorizonModel> {
        self.horizons.iter().find_map(|fit| match fit {
            HorizonFit::Ready(m) if m.horizon_secs == horizon_secs => Some(m),
            _ => None,
        })
    }
}

fn validate_rows(rows: &[FeatureRow]) -> Result<(), ClassifyError> {
    for (index, row) in rows.iter().enumerate() {
        if let Some(pos) = row.features().iter().position(|v| !v.is_finite()) {
            return Err(ClassifyError::NonFinite {
                index,
                time: row.time,
                feature: FEATURE_NAMES[pos],
            });
        }
        if index > 0 && rows[index - 1].time >= row.time {
            return Err(ClassifyError::Unordered { index });
        }
    }
    Ok(())
}

/// `label(t)`: does a page start in `(t, t + horizon]`? `page_starts` must be sorted.
pub fn label(time: i64, horizon_secs: i64, page_starts: &[i64]) -> bool {
    let first_after = page_starts.partition_point(|&s| s <= time);
    page_starts
        .get(first_after)
        .is_some_and(|&s| s <= time + horizon_secs)
}

/// Trains one horizon. The outer `Result` is for failures, the inner one for thin history.
pub fn train_horizon(
    rows: &[FeatureRow],
    page_starts: &[i64],
    cutoff: i64,
    horizon_secs: i64,
    config: &TrainConfig,
) -> Result<Result<HorizonModel, InsufficientHistory>, ClassifyError> {
    if horizon_secs <= 0 {
        return Err(ClassifyError::Horizon(horizon_secs));
    }
    let mut pages = page_starts.to_vec();
    pages.sort_unstable();
    let short = |shortfall| {
        Ok(Err(InsufficientHistory {
            horizon_secs,
            shortfall,
        }))
    };

    let labelled: Vec<(&FeatureRow, bool)> = rows
        .iter()
        .filter(|r| r.time + horizon_secs <= cutoff)
        .map(|r| (r, label(r.time, horizon_secs, &pages)))
        .collect();
    let (Some(first), Some(last)) = (labelled.first(), labelled.last()) else {
        return short(Shortfall::NoLabelledRows);
    };
    let (train_start, train_end) = (first.0.time, last.0.time);

    let days = (train_end - train_start) as f64 / SECS_PER_DAY;
    if days < config.min_days {
        return short(Shortfall::Days {
            have: days,
            need: config.min_days,
        });
    }
    let page_events = pages
        .iter()
        .filter(|&&s| s > train_start && s <= train_end + horizon_secs)
        .count();
    if page_events < config.min_page_events {
        return short(Shortfall::PageEvents {
            have: page_events,
            need: config.min_page_events,
        });
    }
    let positive_rows = labelled.iter().filter(|(_, y)| *y).count();
    let negative_rows = labelled.len() - positive_rows;
    if positive_rows < config.min_positive_rows.max(1) {
        return short(Shortfall::PositiveRows {
            have: positive_rows,
            need: config.min_positive_rows.max(1),
        });
    }
    if negative_rows < config.min_negative_rows.max(1) {
        return short(Shortfall::NegativeRows {
            have: negative_rows,
            need: config.min_negative_rows.max(1),
        });
    }

    let mut raw: Vec<[f64; FEATURE_COUNT]> = labelled.iter().map(|(r, _)| r.features()).collect();
    // An unused input becomes a constant 0 column: its gradient is 0, so its coefficient
    // stays at 0.
    let unused: Vec<usize> = (0..FEATURE_COUNT)
        .filter(|&j| !uses_feature(horizon_secs, FEATURE_NAMES[j]))
        .collect();
    for features in &mut raw {
        for &j in &unused {
            features[j] = 0.0;
        }
    }
    let (means, scales) = standardisation(&raw);
    let weight = ((negative_rows as f64 / positive_rows as f64).round() as usize)
        .clamp(1, MAX_POSITIVE_WEIGHT);

    let total = negative_rows + positive_rows * weight;
    let mut x = Array2::<f64>::zeros((total, FEATURE_COUNT));
    let mut y = Array1::<usize>::zeros(total);
    let mut next = 0;
    for (features, (_, positive)) in raw.iter().zip(&labelled) {
        let copies = if *positive { weight } else { 1 };
        for _ in 0..copies {
            for (j, v) in features.iter().enumerate() {
                x[[next, j]] = (v - means[j]) / scales[j];
            }
            y[next] = usize::from(*positive);
            next += 1;
        }
    }

    let fitted = LogisticRegression::default()
        .alpha(config.l2)
        .max_iterations(config.max_iterations)
        .fit(&Dataset::new(x, y))
        .map_err(|e| ClassifyError::Fit {
            horizon_secs,
            reason: e.to_string(),
        })?;

    // linfa reports the probability of whichever class it labelled positive (it picks the
    // more frequent one), so flip the signs when that class is "no page".
    let sign = if fitted.labels().pos.class == 1 {
        1.0
    } else {
        -1.0
    };
    Ok(Ok(HorizonModel {
        horizon_secs,
        feature_names: FEATURE_NAMES.iter().map(|s| (*s).to_owned()).collect(),
        means: means.to_vec(),
        scales: scales.to_vec(),
        coefficients: fitted.params().iter().map(|c| sign * c).collect(),
        intercept: sign * fitted.intercept() - (weight as f64).ln(),
        positive_weight: weight,
        positive_rows,
        negative_rows,
        page_events,
        train_start,
        train_end,
        warning_threshold: None,
    }))
}

/// Per-feature mean and standard deviation; constant features get scale 1.
fn standardisation(raw: &[[f64; FEATURE_COUNT]]) -> ([f64; FEATURE_COUNT], [f64; FEATURE_COUNT]) {
    let n = raw.len().max(1) as f64;
    let mut means = [0.0; FEATURE_COUNT];
    let mut scales = [1.0; FEATURE_COUNT];
    for j in 0..FEATURE_COUNT {
        let mean = raw.iter().map(|r| r[j]).sum::<f64>() / n;
        let var = raw.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / n;
        means[j] = mean;
        if var.sqrt() > 1e-12 {
            scales[j] = var.sqrt();
        }
    }
    (means, scales)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const STEP: i64 = 300;
    pub(crate) const DAY: i64 = 86_400;

    /// A quiet row at `time`, with the 1 h burn rate and trend given.
    pub(crate) fn row(time: i64, burn_1h: f64, trend: f64) -> FeatureRow {
        FeatureRow {
            time,
            burn_rate_5m: burn_1h,
            burn_rate_1h: burn_1h,
            burn_rate_6h: burn_1h / 2.0,
            burn_rate_1h_trend: trend,
            anomaly_score_max: 0.1,
            share_rate_limited: 0.1,
            share_timeout: 0.05,
            share_5xx: 0.02,
            latency_p95_ms: 800.0,
            traffic_rps: 20.0,
            latency_p95_ratio: 1.0,
            ..FeatureRow::default()
        }
    }

    /// `days` of 5-minute rows with a page every `every` seconds (first at `first`); the 1 h
    /// burn rate climbs during the 2 hours before each page and is flat otherwise, with a
    /// deterministic wobble.
    pub(crate) fn synthetic(days: i64, first: i64, every: i64) -> (Vec<FeatureRow>, Vec<i64>) {
        let pages: Vec<i64> = (0..)
            .map(|k| first + k * every)
            .take_while(|&s| s < days * DAY)
            .collect();
        let rows = (0..days * DAY / STEP)
            .map(|i| {
                let t = i * STEP;
                let wobble = 0.2 * ((i * 7919 % 13) as f64 / 13.0);
                let to_next = pages.iter().find(|&&s| s > t).map_or(i64::MAX, |&s| s - t);
                if to_next <= 2 * 3_600 {
                    let ramp = 1.0 + 6.0 * (1.0 - to_next as f64 / 7_200.0);
                    row(t, ramp + wobble, 2.0)
                } else {
                    row(t, 0.5 + wobble, 0.0)
                }
            })
            .collect();
        (rows, pages)
    }

    #[test]
    fn label_counts_a_page_in_the_half_open_window_after_the_row() {
        let pages = [1_000, 5_000];
        assert!(label(0, 1_000, &pages)); // page at exactly t + h is inside
        assert!(!label(1_000, 1_000, &pages)); // page at t itself is not "within" the future
        assert!(!label(1_001, 3_000, &pages)); // 5_000 > 1_001 + 3_000
        assert!(label(1_001, 4_000, &pages));
    }

    #[test]
    fn rising_burn_rate_raises_the_one_hour_page_probability() {
        let (rows, pages) = synthetic(20, 3 * DAY + 1_234, DAY + 3_600 * 5);
        let cutoff = 20 * DAY;
        let clf =
            BurnClassifier::train(&rows, &pages, cutoff, &TrainConfig::default()).expect("trains");
        let model = clf.model(3_600).expect("enough history for 1 h");
        let calm = model.probability(&row(0, 0.6, 0.0));
        let climbing = model.probability(&row(0, 5.0, 2.0));
        assert!(
            climbing > 0.5 && calm < 0.05,
            "calm {calm}, climbing {climbing}"
        );
    }

    #[test]
    fn horizons_beyond_six_hours_use_only_the_slow_inputs() {
        let (mut rows, pages) = synthetic(20, 3 * DAY + 1_234, DAY + 3_600 * 5);
        // Rate limiting on more hours before each page, so that every model could use it.
        for r in &mut rows {
            let next = pages.iter().find(|&&p| p > r.time).copied();
            r.rate_limited_hours_24h = match next {
                Some(p) if p - r.time <= DAY => 6.0,
                _ => 0.0,
            };
        }
        let clf = BurnClassifier::train(&rows, &pages, 20 * DAY, &TrainConfig::default())
            .expect("trains");
        let coefficient = |h: i64, name: &str| {
            let j = FEATURE_NAMES.iter().position(|n| *n == name).expect(name);
            clf.model(h).expect("enough history").coefficients[j]
        };
        // The synthetic pages follow a 2 h burn ramp: the 1 h model leans on it, the 48 h
        // model may not; and only the 48 h model uses the rate-limited hours.
        assert!(coefficient(3_600, "ln1p_burn_rate_1h").abs() > 0.1);
        assert_eq!(coefficient(3_600, "rate_limited_hours_24h"), 0.0);
        assert_eq!(coefficient(6 * 3_600, "rate_limited_hours_24h"), 0.0);
        assert!(coefficient(48 * 3_600, "rate_limited_hours_24h") > 0.1);
        for name in FEATURE_NAMES.iter().filter(|n| !SLOW_FEATURES.contains(n)) {
            assert_eq!(coefficient(48 * 3_600, name), 0.0, "{name}");
        }
    }

    #[test]
    fn short_history_yields_insufficient_history_with_a_clear_message() {
        let (rows, pages) = synthetic(3, DAY, DAY);
        let clf = BurnClassifier::train(&rows, &pages, 3 * DAY, &TrainConfig::default())
            .expect("no failure");
        let answers = clf.predict(&rows[0]);
        assert_eq!(answers.len(), 3);
        for answer in answers {
            let BurnProbability::InsufficientHistory(short) = answer else {
                panic!("guessed a probability from 3 days: {answer:?}");
            };
            let message = short.to_string();
            assert!(
                message.starts_with("insufficient history for the"),
                "{message}"
            );
            assert!(message.contains("at least 7.0 are needed"), "{message}");
        }
    }

    #[test]
    fn too_few_pages_yields_insufficient_history_naming_the_page_count() {
        let (rows, pages) = synthetic(10, 5 * DAY, 100 * DAY);
        let clf = BurnClassifier::train(&rows, &pages, 10 * DAY, &TrainConfig::default())
            .expect("no failure");
        let HorizonFit::InsufficientHistory(short) = &clf.horizons[0] else {
            panic!("trained on one page");
        };
        assert_eq!(short.shortfall, Shortfall::PageEvents { have: 1, need: 3 });
        assert_eq!(
            short.to_string(),
            "insufficient history for the 1 h page probability: 1 page(s) started in the \
             labelled history, at least 3 are needed"
        );
    }

    #[test]
    fn rows_whose_outcome_is_unknown_at_the_cutoff_are_not_labelled() {
        let (rows, pages) = synthetic(10, DAY, DAY);
        let cutoff = 9 * DAY;
        let Ok(Ok(model)) =
            train_horizon(&rows, &pages, cutoff, 6 * 3_600, &TrainConfig::default())
        else {
            panic!("should train");
        };
        assert!(model.train_end + 6 * 3_600 <= cutoff);
    }

    #[test]
    fn unordered_rows_are_rejected() {
        let rows = vec![row(10, 1.0, 0.0), row(5, 1.0, 0.0)];
        let err = BurnClassifier::train(&rows, &[], 100, &TrainConfig::default()).unwrap_err();
        assert!(matches!(err, ClassifyError::Unordered { index: 1 }));
    }
}
