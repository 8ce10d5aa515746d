//! Robust seasonal detector. Each point is predicted three ways: the median of a long trailing
//! window (no seasonality), the median of its time-of-day bucket on previous days (48 buckets),
//! and the median of its hour-of-week bucket on previous weeks (168 buckets). The predictor
//! whose residuals have had the smallest spread is used (a seasonal one only if its spread is
//! below `seasonal_margin` times the level predictor's), so strongly daily or weekly series are
//! judged against their seasonal baseline and others against their level.
//!
//! The residual's distance from the centre of that predictor's recent residuals, in units of
//! their spread, is averaged over `smooth` points and read as a normal z-score; the score is
//! `-log10(tail) / decades`, damped for `quiet_span` points after it reaches `alert_level`.
//! The spread is the standard deviation by default; `scale_by_std: false` uses the MAD (x1.4826)
//! around the median instead, which on NAB raised far more false alarms (standard score about
//! 25 instead of 52 before the other settings were tuned), because residual tails are heavy.
//!
//! State is bounded: a ring of `level_window` values, fixed rings per seasonal bucket, and a
//! ring of `residuals` residuals per predictor. A flat series has zero residuals and scores 0.

use serde::{Deserialize, Serialize};

use super::Detector;
use super::calibrate::Quiet;
use super::math::{Ring, surprise, two_sided_tail};

const DAY_SECS: i64 = 86_400;
const WEEK_SECS: i64 = 7 * DAY_SECS;
/// Scale from MAD to a normal standard deviation.
const MAD_TO_STD: f64 = 1.4826;
/// Refresh medians and spreads every this many points.
const REFRESH: u64 = 25;

/// Global parameters of [`SeasonalMad`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeasonalMadParams {
    /// Trailing points whose median is the non-seasonal prediction.
    pub level_window: usize,
    /// Daily buckets (time of day is split into this many).
    pub daily_buckets: usize,
    /// Values kept per daily bucket.
    pub daily_depth: usize,
    /// Hour-of-week buckets (168 = one per hour).
    pub weekly_buckets: usize,
    /// Values kept per weekly bucket.
    pub weekly_depth: usize,
    /// Recent residuals kept per predictor.
    pub residuals: usize,
    /// A seasonal predictor must have a spread below this share of the level predictor's.
    pub seasonal_margin: f64,
    /// Scale residuals by their standard deviation rather than their MAD.
    pub scale_by_std: bool,
    /// Residual z-scores averaged over this many points.
    pub smooth: usize,
    /// Points seen before any score can be raised.
    pub warmup: usize,
    pub decades: f64,
    pub alert_level: f64,
    pub quiet_span: usize,
    pub quiet_damp: f64,
}

impl Default for SeasonalMadParams {
    fn default() -> Self {
        Self {
            level_window: 6400,
            daily_buckets: 48,
            daily_depth: 30,
            weekly_buckets: 168,
            weekly_depth: 24,
            residuals: 6400,
            seasonal_margin: 0.7,
            scale_by_std: true,
            smooth: 12,
            warmup: 300,
            decades: 12.0,
            alert_level: 0.12,
            quiet_span: 100,
            quiet_damp: 0.0,
        }
    }
}

/// One way of predicting a value, with its recent residuals.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Predictor {
    residuals: Ring,
    center: f64,
    spread: f64,
}

impl Predictor {
    fn new(residuals: usize) -> Self {
        Self {
            residuals: Ring::new(residuals),
            center: 0.0,
            spread: 0.0,
        }
    }

    fn ready(&self) -> bool {
        self.residuals.len() >= 50
    }

    fn refresh(&mut self, by_std: bool, scratch: &mut Vec<f64>) {
        if by_std {
            (self.center, self.spread) = self.residuals.mean_std();
        } else {
            self.center = median(self.residuals.iter(), scratch).unwrap_or(0.0);
            let c = self.center;
            let mad = median(self.residuals.iter().map(|r| (r - c).abs()), scratch);
            self.spread = mad.unwrap_or(0.0) * MAD_TO_STD;
        }
    }
}

/// The robust seasonal median/MAD detector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeasonalMad {
    params: SeasonalMadParams,
    recent: Ring,
    level: f64,
    daily: Vec<Ring>,
    weekly: Vec<Ring>,
    /// level, daily, weekly
    predictors: [Predictor; 3],
    zs: Ring,
    seen: u64,
    quiet: Quiet,
}

impl Default for SeasonalMad {
    fn default() -> Self {
        Self::new(SeasonalMadParams::default())
    }
}

/// Median of `values`, using `scratch` as working space.
pub(crate) fn median(values: impl Iterator<Item = f64>, scratch: &mut Vec<f64>) -> Option<f64> {
    scratch.clear();
    scratch.extend(values);
    if scratch.is_empty() {
        return None;
    }
    let mid = scratch.len() / 2;
    let (_, m, _) = scratch.select_nth_unstable_by(mid, f64::total_cmp);
    Some(*m)
}

impl SeasonalMad {
    pub(crate) fn new(params: SeasonalMadParams) -> Self {
        let p = params;
        Self {
            params: p,
            recent: Ring::new(p.level_window),
            level: 0.0,
            daily: (0..p.daily_buckets.max(1))
                .map(|_| Ring::new(p.daily_depth))
                .collect(),
            weekly: (0..p.weekly_buckets.max(1))
                .map(|_| Ring::new(p.weekly_depth))
                .collect(),
            predictors: [
                Predictor::new(p.residuals),
                Predictor::new(p.residuals),
                Predictor::new(p.residuals),
            ],
            zs: Ring::new(p.smooth.max(1)),
            seen: 0,
            quiet: Quiet::new(p.alert_level, p.quiet_span, p.quiet_damp),
        }
    }

    fn bucket(timestamp: i64, period: i64, buckets: usize) -> usize {
        let phase = i128::from(timestamp.rem_euclid(period));
        ((phase * buckets as i128) / i128::from(period)) as usize
    }

    /// The (smoothed) residual z-score of `value`, learning from it afterwards.
    pub(crate) fn residual_z(&mut self, timestamp: i64, value: f64) -> f64 {
        let mut scratch = Vec::new();
        let d = Self::bucket(timestamp, DAY_SECS, self.daily.len());
        let w = Self::bucket(timestamp, WEEK_SECS, self.weekly.len());
        let predictions = [
            (self.recent.len() > 0).then_some(self.level),
            (self.daily[d].len() >= 3)
                .then(|| median(self.daily[d].iter(), &mut scratch))
                .flatten(),
            (self.weekly[w].len() >= 2)
                .then(|| median(self.weekly[w].iter(), &mut scratch))
                .flatten(),
        ];
        let level_spread = self.predictors[0].spread;
        let mut chosen: Option<(usize, f64)> = None;
        for (i, p) in self.predictors.iter().enumerate() {
            if !p.ready() || predictions[i].is_none() {
                continue;
            }
            let good_enough = i == 0 || p.spread < self.params.seasonal_margin * level_spread;
            if good_enough && chosen.is_none_or(|(_, best)| p.spread < best) {
                chosen = Some((i, p.spread));
            }
        }
        let z = match chosen.and_then(|(i, _)| predictions[i].map(|pred| (i, pred))) {
            Some((i, pred)) => {
                let p = &self.predictors[i];
                let deviation = (value - pred - p.center).abs();
                let floor = 1e-9 * (1.0 + pred.abs());
                if deviation <= floor {
                    0.0
                } else {
                    deviation / p.spread.max(floor)
                }
            }
            None => 0.0,
        };

        let refresh = self.seen.is_multiple_of(REFRESH);
        for (i, pred) in predictions.iter().enumerate() {
            if let Some(pred) = pred {
                let p = &mut self.predictors[i];
                p.residuals.push(value - pred);
                if refresh || !p.ready() {
                    p.refresh(self.params.scale_by_std, &mut scratch);
                }
            }
        }
        self.recent.push(value);
        if refresh || self.recent.len() < 50 {
            self.level = median(self.recent.iter(), &mut scratch).unwrap_or(value);
        }
        self.daily[d].push(value);
        self.weekly[w].push(value);
        self.seen += 1;
        self.zs.push(z);
        self.zs.iter().sum::<f64>() / self.zs.len() as f64
    }
}

impl Detector for SeasonalMad {
    fn update(&mut self, timestamp: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let z = self.residual_z(timestamp, value);
        let score = if self.seen > self.params.warmup as u64 {
            surprise(two_sided_tail(z), self.params.decades)
        } else {
            0.0
        };
        self.quiet.apply(score)
    }
}
