//! Rolling-origin evaluation of forecasts and page predictions.
//!
//! Both evaluations only ever train on data before the origin they predict from: train on
//! steps (or days) `1..k`, predict what follows, move the origin on, repeat.
//!
//! # Event-level scores ([`score_events`])
//!
//! Warnings are the time steps at which a warning signal is on (a page probability at or above
//! a threshold, a forecast budget exhaustion within the horizon, an interval exceedance…).
//! Firing steps no more than one step apart form one **alert episode** `[a, b]`. For a
//! [`LeadBand`] with minimum lead `min_lead` and look-ahead `lookahead`:
//!
//! - an **incident** starting at `s` is **predicted** when some firing step `t` satisfies
//!   `s - lookahead <= t <= s - min_lead`: the warning came at least `min_lead` before the
//!   start and no more than `lookahead` before it. Its **lead time** is `s - t` for the earliest
//!   such `t`;
//! - an **episode** `[a, b]` is a **true alarm** when an incident starts in `(a, b + lookahead]`
//!   (within the horizon of one of its warnings) and a **false alarm** otherwise;
//! - **recall** = predicted incidents / incidents; **precision** = true episodes / episodes.
//! - an episode lasts less than `lookahead`: a longer run of warnings is cut into pieces that
//!   short, each its own episode. Each piece claims an incident within its own horizon;
//!   otherwise warning all the time would make one long episode, true as soon as any
//!   incident followed.
//!
//! A warning that comes too late for the band (less than `min_lead` before the start) is not a
//! false alarm, but it does not predict the incident either. Accuracy over time steps is not
//! reported: with rare incidents it rewards never warning.
//!
//! # Forecast error ([`mase`])
//!
//! MASE is the mean absolute error over the forecast horizon divided by the in-sample mean
//! absolute error of the one-step **seasonal-naive** forecast on the training part
//! (`mean_{t >= m} |y_t - y_{t-m}|`, `m` = the daily season), as Hyndman and Koehler define it
//! for seasonal data. In a rolling evaluation each origin gets its own scale and the reported
//! figure is the mean of the per-origin MASEs. The naive and seasonal-naive forecasts are scored
//! with the same scale, so a model beats a baseline when its MASE is lower.

use serde::{Deserialize, Serialize};

use crate::predict::classify::{BurnClassifier, ClassifyError, FeatureRow, TrainConfig};
use crate::predict::forecast::{
    ForecastConfig, ForecastError, ModelKind, forecast, forecast_budget, forecast_with,
    mean_abs_diff, normal_quantile,
};

const DAY_SECS: i64 = 86_400;

/// Why a backtest could not run.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error(
        "series of {got} steps leaves no origin: needs {initial} training steps plus a {horizon}-step horizon"
    )]
    NoOrigin {
        got: usize,
        initial: usize,
        horizon: usize,
    },
    #[error("invalid backtest configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Forecast(#[from] ForecastError),
    #[error(transparent)]
    Classify(#[from] ClassifyError),
}

/// Which warnings count for an incident; see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadBand {
    /// Name in tables, e.g. `"6 h"`.
    pub name: String,
    /// A warning must come at least this long before the incident start.
    pub min_lead_secs: i64,
    /// A warning more than this long before the start does not count; also the horizon
    /// within which an episode must be followed by an incident to be a true alarm.
    pub lookahead_secs: i64,
}

impl LeadBand {
    pub fn new(name: &str, min_lead_secs: i64, lookahead_secs: i64) -> Self {
        Self {
            name: name.to_owned(),
            min_lead_secs,
            lookahead_secs,
        }
    }

    /// The bands used for the 1 h, 6 h and 48 h horizons: a warning counts for band `H` when
    /// it came within `H` of the start and at least as early as the next shorter band allows
    /// (one 5-minute step for 1 h, 1 h for 6 h, 6 h for 48 h), so the bands do not overlap.
    pub fn defaults() -> Vec<LeadBand> {
        vec![
            LeadBand::new("1 h", 300, 3_600),
            LeadBand::new("6 h", 3_600, 6 * 3_600),
            LeadBand::new("48 h", 6 * 3_600, 48 * 3_600),
        ]
    }
}

/// Event-level scores of one warning source in one lead band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventScore {
    pub band: LeadBand,
    pub incidents: usize,
    pub predicted: usize,
    /// `predicted / incidents`; `None` without incidents.
    pub recall: Option<f64>,
    pub episodes: usize,
    pub false_alarms: usize,
    /// `(episodes - false_alarms) / episodes`; `None` without episodes.
    pub precision: Option<f64>,
    /// Lead time of each predicted incident, seconds, in incident order.
    pub lead_times_secs: Vec<i64>,
}

/// The Wilson score interval, at 95%, of a proportion seen as `successes` of `trials`
/// (recall: predicted of incidents; precision: true of episodes); `None` without trials.
/// Event counts are small (a fleet has a handful of incidents a band can see), and the
/// interval says how far a ratio of them may lie from the rate behind it. Unlike the
/// normal approximation it stays inside [0, 1] and is not empty at 0 or at all of them.
pub fn wilson_interval(successes: usize, trials: usize) -> Option<(f64, f64)> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z = normal_quantile(0.975);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Scores firing steps against incident starts (all unix seconds); see the module docs.
/// `firing` and `incident_starts` need not be sorted.
pub fn score_events(
    firing: &[i64],
    step_secs: i64,
    incident_starts: &[i64],
    band: &LeadBand,
) -> EventScore {
    let mut firing = firing.to_vec();
    firing.sort_unstable();
    firing.dedup();
    let mut incidents = incident_starts.to_vec();
    incidents.sort_unstable();

    let mut lead_times_secs = Vec::new();
    for &s in &incidents {
        let from = s - band.lookahead_secs;
        let earliest = firing.partition_point(|&t| t < from);
        if let Some(&t) = firing
            .get(earliest)
            .filter(|&&t| t <= s - band.min_lead_secs)
        {
            lead_times_secs.push(s - t);
        }
    }

    let episodes = episodes(&firing, step_secs, band.lookahead_secs);
    let false_alarms = episodes
        .iter()
        .filter(|&&(a, b)| {
            let first = incidents.partition_point(|&s| s <= a);
            incidents
                .get(first)
                .is_none_or(|&s| s > b + band.lookahead_secs)
        })
        .count();

    let ratio = |num: usize, den: usize| (den > 0).then(|| num as f64 / den as f64);
    EventScore {
        band: band.clone(),
        incidents: incidents.len(),
        predicted: lead_times_secs.len(),
        recall: ratio(lead_times_secs.len(), incidents.len()),
        episodes: episodes.len(),
        false_alarms,
        precision: ratio(episodes.len() - false_alarms, episodes.len()),
        lead_times_secs,
    }
}

/// Groups sorted firing times into `(first, last)` episodes of steps at most `step_secs`
/// apart and spanning less than `max_span_secs` from first to last.
pub(crate) fn episodes(
    sorted_firing: &[i64],
    step_secs: i64,
    max_span_secs: i64,
) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &t in sorted_firing {
        match out.last_mut() {
            Some((first, last)) if t - *last <= step_secs && t - *first < max_span_secs => {
                *last = t;
            }
            _ => out.push((t, t)),
        }
    }
    out
}

/// In-sample MAE of the one-step seasonal-naive forecast with season `m` (`m = 1` is the
/// naive forecast): `mean_{t >= m} |y_t - y_{t-m}|`. `None` when `train` has no pair.
pub fn seasonal_naive_mae(train: &[f64], m: usize) -> Option<f64> {
    if m == 0 || train.len() <= m {
        return None;
    }
    let total: f64 = (m..train.len())
        .map(|t| (train[t] - train[t - m]).abs())
        .sum();
    Some(total / (train.len() - m) as f64)
}

/// `mean |actual - predicted| / scale`; `None` for an empty horizon or a scale that is zero or
/// not finite (a training series that repeats itself exactly has no meaningful MASE).
pub fn mase(actual: &[f64], predicted: &[f64], scale: f64) -> Option<f64> {
    if actual.is_empty() || predicted.is_empty() || !(scale.is_finite() && scale > 0.0) {
        return None;
    }
    Some(mean_abs_diff(actual, predicted) / scale)
}

/// Where the origins of a rolling forecast evaluation go.
#[derive(Debug, Clone, PartialEq)]
pub struct RollingForecastConfig {
    pub forecast: ForecastConfig,
    /// Training steps before the first origin.
    pub initial_steps: usize,
    /// Steps between origins (a day of steps for "predict day k + 1").
    pub stride: usize,
    /// Keep only the last this many origins (0 = all).
    pub max_origins: usize,
}

/// MASE figures of a rolling forecast evaluation, each the mean over origins where the scale
/// was defined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastBacktest {
    pub origins: usize,
    /// Origins skipped because the training part repeats itself (zero MASE scale).
    pub origins_without_scale: usize,
    /// The model chosen by [`forecast`] at each origin.
    pub mase_chosen: Option<f64>,
    pub mase_naive: Option<f64>,
    pub mase_seasonal_naive: Option<f64>,
    /// How often each model was chosen, in [`ModelKind::ALL`] order.
    pub chosen_counts: Vec<(ModelKind, usize)>,
    /// Share of actual values inside each prediction interval of the chosen model.
    pub coverage: Vec<(f64, f64)>,
}

/// Rolling-origin forecast evaluation: at each origin `o`, forecast `values[o..o + horizon]`
/// from `values[..o]` with model choice and with each baseline, and score all by MASE.
pub fn rolling_forecast(
    values: &[f64],
    config: &RollingForecastConfig,
) -> Result<ForecastBacktest, BacktestError> {
    let horizon = config.forecast.horizon;
    let m = config.forecast.season;
    if config.stride == 0 {
        return Err(BacktestError::Config(
            "stride must be at least 1 step".into(),
        ));
    }
    let mut origins: Vec<usize> = (config.initial_steps..)
        .step_by(config.stride)
        .take_while(|o| o + horizon <= values.len())
        .collect();
    if config.max_origins > 0 && origins.len() > config.max_origins {
        origins.drain(..origins.len() - config.max_origins);
    }
    if origins.is_empty() {
        return Err(BacktestError::NoOrigin {
            got: values.len(),
            initial: config.initial_steps,
            horizon,
        });
    }

    let mut sums = [0.0; 3];
    let mut scored = 0usize;
    let mut counts = vec![0usize; ModelKind::ALL.len()];
    let mut inside = vec![0usize; config.forecast.levels.len()];
    let mut points = 0usize;
    for &o in &origins {
        let (train, rest) = values.split_at(o);
        let actual = &rest[..horizon];
        let chosen = forecast(train, &config.forecast)?;
        if let Some(i) = ModelKind::ALL.iter().position(|k| *k == chosen.model) {
            counts[i] += 1;
        }
        for (slot, interval) in inside.iter_mut().zip(&chosen.intervals) {
            *slot += actual
                .iter()
                .zip(interval.lower.iter().zip(&interval.upper))
                .filter(|&(a, (lo, hi))| lo <= a && a <= hi)
                .count();
        }
        points += horizon;

        let Some(scale) = seasonal_naive_mae(train, m).filter(|s| *s > 0.0) else {
            continue;
        };
        let naive = forecast_with(ModelKind::Naive, train, &config.forecast)?;
        let snaive = forecast_with(ModelKind::SeasonalNaive, train, &config.forecast)?;
        let all = [&chosen.mean, &naive.mean, &snaive.mean];
        let figures: Option<Vec<f64>> = all.iter().map(|p| mase(actual, p, scale)).collect();
        if let Some(figures) = figures {
            for (sum, f) in sums.iter_mut().zip(figures) {
                *sum += f;
            }
            scored += 1;
        }
    }

    let mean = |sum: f64| (scored > 0).then(|| sum / scored as f64);
    Ok(ForecastBacktest {
        origins: origins.len(),
        origins_without_scale: origins.len() - scored,
        mase_chosen: mean(sums[0]),
        mase_naive: mean(sums[1]),
        mase_seasonal_naive: mean(sums[2]),
        chosen_counts: ModelKind::ALL.iter().copied().zip(counts).collect(),
        coverage: config
            .forecast
            .levels
            .iter()
            .zip(&inside)
            .map(|(&level, &n)| (level, n as f64 / points.max(1) as f64))
            .collect(),
    })
}

/// How to raise warnings from forecast budget exhaustion on an error-ratio series.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetWarningConfig {
    /// Forecast of the error ratio; `horizon` is how far ahead exhaustion is looked for.
    pub forecast: ForecastConfig,
    /// SLO objective, e.g. 0.999.
    pub objective: f64,
    /// SLO window in steps (720 for 30 days of hourly steps).
    pub window_steps: usize,
    /// Steps between forecasts; a warning holds until the next forecast.
    pub stride: usize,
    /// Project the upper bound of this interval instead of the point forecast (pessimistic).
    pub upper_level: Option<f64>,
}

/// Rolling budget-exhaustion warnings on an error-ratio series sampled every `step_secs`
/// from `start`. At each origin `o` (every `stride` steps once a full SLO window of history
/// exists), the budget left is `1 - sum_{t in [o - W, o)} r_t / ((1 - objective) * W)` and the
/// error ratio is forecast from `ratio[..o]`; when [`forecast_budget`] finds exhaustion within
/// the horizon, a warning is on for steps `o .. o + stride`. Returns the firing times, ready for
/// [`score_events`].
pub fn budget_warnings(
    ratio: &[f64],
    start: i64,
    step_secs: i64,
    config: &BudgetWarningConfig,
) -> Result<Vec<i64>, BacktestError> {
    if config.stride == 0 || config.window_steps == 0 {
        return Err(BacktestError::Config(
            "stride and window_steps must be at least 1".into(),
        ));
    }
    let allowed = (1.0 - config.objective) * config.window_steps as f64;
    let mut firing = Vec::new();
    let mut origin = config.window_steps.max(2);
    while origin < ratio.len() {
        let spent: f64 = ratio[origin - config.window_steps..origin]
            .iter()
            .map(|r| r.clamp(0.0, 1.0))
            .sum::<f64>()
            / allowed;
        let f = forecast(&ratio[..origin], &config.forecast)?;
        let path = match config.upper_level.and_then(|l| f.interval(l)) {
            Some(interval) => &interval.upper,
            None => &f.mean,
        };
        let budget = forecast_budget(1.0 - spent, config.objective, config.window_steps, path)?;
        if budget.exhausted_after_steps.is_some() {
            let until = (origin + config.stride).min(ratio.len());
            firing.extend((origin..until).map(|i| start + i as i64 * step_secs));
        }
        origin += config.stride;
    }
    Ok(firing)
}

/// How to run a rolling page-prediction evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct RollingClassifierConfig {
    pub train: TrainConfig,
    /// Days of history before the first origin.
    pub initial_days: i64,
    /// A probability at or above this raises a warning.
    pub threshold: f64,
    /// One band per entry of `train.horizons_secs`, in the same order; the horizon's model
    /// supplies the warnings of its band.
    pub bands: Vec<LeadBand>,
    /// Spacing of the feature rows (to group firing steps into episodes).
    pub step_secs: i64,
}

impl Default for RollingClassifierConfig {
    fn default() -> Self {
        Self {
            train: TrainConfig::default(),
            initial_days: 7,
            threshold: 0.5,
            bands: LeadBand::defaults(),
            step_secs: 300,
        }
    }
}

/// Result of [`rolling_classifier`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierBacktest {
    /// Days predicted.
    pub origins: usize,
    /// Per horizon, days on which that horizon had no model (insufficient history); those
    /// days raise no warning for that horizon.
    pub days_without_model: Vec<(i64, usize)>,
    pub scores: Vec<EventScore>,
}

/// Rolling-origin page prediction: for each day `k + 1` after `initial_days`, train on the rows
/// before the day (outcomes known by its start only) and predict every row of the day. The
/// incidents scored are the page starts after the first origin.
pub fn rolling_classifier(
    rows: &[FeatureRow],
    page_starts: &[i64],
    config: &RollingClassifierConfig,
) -> Result<ClassifierBacktest, BacktestError> {
    if config.bands.len() != config.train.horizons_secs.len() {
        return Err(BacktestError::Config(format!(
            "{} lead bands for {} horizons",
            config.bands.len(),
            config.train.horizons_secs.len()
        )));
    }
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Err(BacktestError::Config("no feature rows".into()));
    };
    let first_origin = first.time + config.initial_days * DAY_SECS;
    let mut firing: Vec<Vec<i64>> = vec![Vec::new(); config.bands.len()];
    let mut without_model = vec![0usize; config.bands.len()];
    let mut origins = 0usize;

    let mut origin = first_origin;
    while origin <= last.time {
        let split = rows.partition_point(|r| r.time < origin);
        let end = rows.partition_point(|r| r.time < origin + DAY_SECS);
        let classifier = BurnClassifier::train(&rows[..split], page_starts, origin, &config.train)?;
        for (i, &h) in config.train.horizons_secs.iter().enumerate() {
            let Some(model) = classifier.model(h) else {
                without_model[i] += 1;
                continue;
            };
            firing[i].extend(
                rows[split..end]
                    .iter()
                    .filter(|r| model.probability(r) >= config.threshold)
                    .map(|r| r.time),
            );
        }
        origins += 1;
        origin += DAY_SECS;
    }

    let incidents: Vec<i64> = page_starts
        .iter()
        .copied()
        .filter(|&s| s > first_origin && s <= last.time)
        .collect();
    let scores = config
        .bands
        .iter()
        .zip(&firing)
        .map(|(band, f)| score_events(f, config.step_secs, &incidents, band))
        .collect();
    Ok(ClassifierBacktest {
        origins,
        days_without_model: config
            .train
            .horizons_secs
            .iter()
            .copied()
            .zip(without_model)
            .collect(),
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::classify::tests::{DAY, synthetic};

    #[test]
    fn wilson_intervals_match_hand_computation() {
        // 8 of 10, z = 1.96: centre (0.8 + 0.19208) / 1.38415 = 0.71675; half-width
        // 1.96 / 1.38415 * sqrt(0.016 + 0.009604) = 0.22658: [0.4902, 0.9433], as
        // published tables of the Wilson score interval give for 8 of 10.
        let (lo, hi) = wilson_interval(8, 10).unwrap();
        assert!(
            (lo - 0.4902).abs() < 1e-4 && (hi - 0.9433).abs() < 1e-4,
            "{lo} {hi}"
        );
        // 0 of 5: from 0 to z² / (n + z²) = 3.8415 / 8.8415 = 0.4345.
        let (lo, hi) = wilson_interval(0, 5).unwrap();
        assert!(lo.abs() < 1e-12 && (hi - 0.4345).abs() < 1e-4, "{lo} {hi}");
        // All of them: symmetric to none, from 1 - 0.4345 up to 1.
        let (lo, hi) = wilson_interval(5, 5).unwrap();
        assert!(
            (lo - 0.5655).abs() < 1e-4 && (hi - 1.0).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert_eq!(wilson_interval(0, 0), None);
    }

    #[test]
    fn event_scores_on_three_incidents_match_hand_count() {
        // Incidents start at 10_000, 50_000 and 90_000. Band: warned 600 s to 3_600 s ahead.
        // Firing steps (300 s apart) and what they are, by hand:
        //   7_000, 7_300, 7_600  episode A; 10_000 - 3_600 = 6_400 <= 7_000 <= 9_400, so
        //                        incident 1 is predicted with lead 10_000 - 7_000 = 3_000;
        //                        A is true (10_000 lies in (7_000, 7_600 + 3_600]).
        //   20_000               episode B; nothing starts in (20_000, 23_600]: false alarm.
        //   30_000, 30_300       episode C; nothing in (30_000, 33_900]: false alarm.
        //   49_700               episode D; 49_700 > 50_000 - 600, too late for incident 2,
        //                        but 50_000 lies in (49_700, 53_300], so D is true.
        //   86_400               episode E; 90_000 - 3_600 = 86_400 <= 86_400: incident 3 is
        //                        predicted with lead 3_600; E is true.
        // Recall = 2 / 3. Precision = 3 true episodes (A, D, E) / 5 episodes = 0.6.
        let firing = [7_000, 7_300, 7_600, 20_000, 30_000, 30_300, 49_700, 86_400];
        let band = LeadBand::new("1 h", 600, 3_600);
        let score = score_events(&firing, 300, &[10_000, 50_000, 90_000], &band);
        assert_eq!(score.incidents, 3);
        assert_eq!(score.predicted, 2);
        assert_eq!(score.recall, Some(2.0 / 3.0));
        assert_eq!(score.episodes, 5);
        assert_eq!(score.false_alarms, 2);
        assert_eq!(score.precision, Some(0.6));
        assert_eq!(score.lead_times_secs, vec![3_000, 3_600]);
    }

    #[test]
    fn a_run_of_warnings_longer_than_the_lookahead_is_several_episodes() {
        // Hourly warnings from 0 h to 5 h; look-ahead 2 h: pieces [0, 1], [2, 3], [4, 5].
        // An incident at 6.5 h follows only the last piece within 2 h (5 h + 2 h >= 6.5 h).
        let firing: Vec<i64> = (0..6).map(|h| h * 3_600).collect();
        let band = LeadBand::new("2 h", 600, 7_200);
        let score = score_events(&firing, 3_600, &[23_400], &band);
        assert_eq!((score.episodes, score.false_alarms), (3, 2));
        assert_eq!(score.lead_times_secs, vec![23_400 - 18_000]);
    }

    #[test]
    fn no_warnings_means_no_precision_and_zero_recall() {
        let score = score_events(&[], 300, &[1_000], &LeadBand::new("1 h", 300, 3_600));
        assert_eq!(score.recall, Some(0.0));
        assert_eq!(score.precision, None);
    }

    #[test]
    fn mase_of_a_small_forecast_matches_hand_computation() {
        // Train [1, 3, 2, 4, 3, 5], m = 2: seasonal differences |2-1|, |4-3|, |3-2|, |5-4| are
        // all 1, so the scale is 1. The naive scale (m = 1) is (2+1+2+1+2)/5 = 1.6.
        let train = [1.0, 3.0, 2.0, 4.0, 3.0, 5.0];
        assert_eq!(seasonal_naive_mae(&train, 2), Some(1.0));
        assert_eq!(seasonal_naive_mae(&train, 1), Some(1.6));
        // Actual [4, 6], forecast [4.5, 5]: errors 0.5 and 1, MAE 0.75, MASE 0.75.
        assert_eq!(mase(&[4.0, 6.0], &[4.5, 5.0], 1.0), Some(0.75));
        assert_eq!(mase(&[4.0, 6.0], &[4.5, 5.0], 0.0), None);
    }

    #[test]
    fn rolling_baseline_mase_matches_hand_computation() {
        // values [0, 2, 1, 3, 1, 4, 2, 5], m = 2, horizon 2, first origin 4, stride 2:
        // origin 4: train [0, 2, 1, 3], scale (|1-0| + |3-2|) / 2 = 1, actual [1, 4].
        //   naive [3, 3]: errors 2, 1 -> MASE 1.5; seasonal naive [1, 3]: 0, 1 -> 0.5.
        // origin 6: train [0, 2, 1, 3, 1, 4], scale (1 + 1 + 0 + 1) / 4 = 0.75, actual [2, 5].
        //   naive [4, 4]: 2, 1 -> 1.5 / 0.75 = 2; seasonal naive [1, 4]: 1, 1 -> 1 / 0.75.
        // Means: naive (1.5 + 2) / 2 = 1.75; seasonal naive (0.5 + 4/3) / 2 = 11/12.
        let values = [0.0, 2.0, 1.0, 3.0, 1.0, 4.0, 2.0, 5.0];
        let mut forecast = ForecastConfig::new(2, 2);
        forecast.candidates = vec![ModelKind::Naive, ModelKind::SeasonalNaive];
        let config = RollingForecastConfig {
            forecast,
            initial_steps: 4,
            stride: 2,
            max_origins: 0,
        };
        let result = rolling_forecast(&values, &config).expect("two origins");
        assert_eq!(result.origins, 2);
        let naive = result.mase_naive.expect("scale defined");
        let snaive = result.mase_seasonal_naive.expect("scale defined");
        assert!((naive - 1.75).abs() < 1e-12, "{naive}");
        assert!((snaive - 11.0 / 12.0).abs() < 1e-12, "{snaive}");
    }

    #[test]
    fn rolling_forecast_without_room_for_an_origin_is_an_error() {
        let config = RollingForecastConfig {
            forecast: ForecastConfig::new(2, 4),
            initial_steps: 4,
            stride: 1,
            max_origins: 0,
        };
        let err = rolling_forecast(&[1.0; 6], &config).unwrap_err();
        assert!(matches!(err, BacktestError::NoOrigin { got: 6, .. }));
    }

    #[test]
    fn budget_warnings_start_at_the_first_forecast_after_the_ratio_jumps() {
        // Hourly error ratio, objective 99.9 %, 30-day window (W = 720): 0.0005 (burn 0.5)
        // for 800 hours, then 0.01 (burn 10). Naive forecasts, stride 1, horizon 48.
        // Origin 800 sees only 0.0005: burn 0.5 never exhausts. Origin 801 sees the jump:
        // spent = (719 * 0.0005 + 0.01) / (0.001 * 720) = 0.3695 / 0.72 = 0.5132, so 0.4868
        // is left and lasts 0.4868 * 0.72 / 0.01 = 35.0 hours < 48: warning from hour 801 on.
        let mut ratio = vec![0.0005; 800];
        ratio.extend([0.01; 100]);
        let mut forecast = ForecastConfig::new(24, 48);
        forecast.candidates = vec![ModelKind::Naive];
        let config = BudgetWarningConfig {
            forecast,
            objective: 0.999,
            window_steps: 720,
            stride: 1,
            upper_level: None,
        };
        let firing = budget_warnings(&ratio, 0, 3_600, &config).expect("runs");
        assert_eq!(firing.first(), Some(&(801 * 3_600)));
        assert_eq!(firing.len(), 99);
    }

    #[test]
    fn rolling_classifier_predicts_pages_preceded_by_a_climbing_burn_rate() {
        // A page every 29 h; the burn rate climbs for 2 h before each one, so the 1 h model
        // can warn in its band, and warnings are only raised before pages.
        let (rows, pages) = synthetic(16, DAY + 1_800, 29 * 3_600);
        let config = RollingClassifierConfig {
            train: TrainConfig {
                horizons_secs: vec![3_600],
                ..TrainConfig::default()
            },
            initial_days: 8,
            bands: vec![LeadBand::new("1 h", 300, 3_600)],
            ..RollingClassifierConfig::default()
        };
        let result = rolling_classifier(&rows, &pages, &config).expect("runs");
        assert_eq!(result.origins, 8);
        let one_hour = &result.scores[0];
        assert!(one_hour.incidents >= 5, "{one_hour:?}");
        assert_eq!(one_hour.recall, Some(1.0), "{one_hour:?}");
        assert!(
            one_hour.precision.is_some_and(|p| p >= 0.99),
            "{one_hour:?}"
        );
    }
}
