//! Rolling-origin backtest of the nightly job over a whole fleet of SLOs.
//!
//! The same pieces as [`crate::predict::pipeline::run`], evaluated the way
//! [`crate::predict::backtest`] defines:
//!
//! - **Page prediction.** Origins fall at `first row + initial_days`, then every day. At each
//!   origin one pooled classifier ([`train_pooled`]) is trained on outcomes known by the
//!   origin and predicts every predictable hourly row of the next day for every SLO (observed,
//!   neither paging nor in the day after a page: [`SloFeatures::predictable`]). Where the
//!   precursor rule decides a band ([`FleetBacktestConfig::precursor`]), that band's rows
//!   warn by the rule and its horizon is not trained.
//!   A row warns for a horizon when its probability reaches the threshold; an SLO without a
//!   page start by the origin warns only at the day-scale horizons, as in the nightly job
//!   ([`crate::predict::pipeline::predicts_horizon`]). Per SLO, warnings
//!   are scored against that SLO's incidents with [`score_events`] (hourly steps), and the
//!   counts are summed over SLOs: recall = predicted incidents / incidents, precision = true
//!   alarm episodes / episodes, fleet-wide.
//! - **Unknown outcomes.** A warning at `t` is scored in a band only when `t + lookahead` is
//!   no later than the last row: whether it was followed by an incident is not known
//!   otherwise. Incidents in the last `lookahead` therefore lose their latest chances of a
//!   warning, which makes recall there slightly pessimistic.
//! - **Origins** run while the origin is before the last row, so the row at the very end (the
//!   pipeline's `now`) is never predicted: its outcome is unknown.
//! - **Incidents** are the ground-truth `(slo, start)` pairs given (the simulator's labels),
//!   or the page episodes' starts when none are given, counted when they start after the
//!   first origin and no later than the last row.
//! - **Error-ratio forecasts.** Per SLO, [`rolling_forecast`] with origins every 24 h from
//!   `initial_days`, forecasting [`FleetBacktestConfig::forecast_horizon`] hours: MASE of the
//!   chosen model, naive and seasonal naive (lower is better; scale = in-sample seasonal-naive
//!   MAE, so a constant-zero stretch of history leaves an origin unscored).
//!
//! Features are built once from the whole input: a row at `t` only uses data at or before `t`
//! (see [`crate::predict::features`]), so this does not leak the future.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::predict::backtest::{
    BacktestError, EventScore, ForecastBacktest, LeadBand, RollingForecastConfig, rolling_forecast,
    score_events,
};
use crate::predict::classify::{SHORT_HORIZON_MAX_SECS, TrainConfig};
use crate::predict::features::{HOUR_SECS, PipelineInputs, SloFeatures, build_features};
use crate::predict::forecast::ForecastConfig;
use crate::predict::pipeline::{predicts_horizon, train_pooled};
use crate::predict::precursor::PrecursorRule;

const DAY_SECS: i64 = 86_400;

/// How to run [`backtest`].
#[derive(Debug, Clone, PartialEq)]
pub struct FleetBacktestConfig {
    pub train: TrainConfig,
    /// Days of history before the first origin.
    pub initial_days: i64,
    /// A probability at or above this warns.
    pub threshold: f64,
    /// Instead of `threshold`, warn at each origin's learned threshold, as the nightly job
    /// does ([`crate::predict::threshold`]; no warning when none was learned).
    pub tune_threshold: bool,
    /// The day-scale horizons warn by this rule instead, with or without a model, as the
    /// nightly job does by default ([`crate::predict::precursor`]).
    pub precursor: Option<PrecursorRule>,
    /// One band per entry of `train.horizons_secs`, in the same order.
    pub bands: Vec<LeadBand>,
    /// Hours forecast at each error-ratio origin.
    pub forecast_horizon: usize,
}

impl Default for FleetBacktestConfig {
    fn default() -> Self {
        Self {
            train: TrainConfig::default(),
            initial_days: 7,
            threshold: 0.5,
            tune_threshold: false,
            precursor: None,
            bands: LeadBand::defaults(),
            forecast_horizon: 48,
        }
    }
}

/// Result of the page-prediction part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PooledBacktest {
    /// Days predicted.
    pub origins: usize,
    /// Per horizon, days without a model (insufficient history): no warnings those days.
    pub days_without_model: Vec<(i64, usize)>,
    /// Fleet-wide scores, one per band.
    pub scores: Vec<EventScore>,
}

/// Per-SLO figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloBacktest {
    pub slo: String,
    pub incidents: usize,
    /// Per band, incidents of this SLO predicted.
    pub predicted: Vec<usize>,
    /// Per band, this SLO's warning episodes and how many of them were false alarms.
    #[serde(default)]
    pub episodes: Vec<usize>,
    #[serde(default)]
    pub false_alarms: Vec<usize>,
    pub forecast: Option<ForecastBacktest>,
    /// Why there is no forecast evaluation.
    pub note: Option<String>,
}

/// What [`backtest`] found; `Display` prints it as tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetReport {
    pub threshold: f64,
    /// Whether the threshold was tuned per origin instead (see
    /// [`FleetBacktestConfig::tune_threshold`]).
    #[serde(default)]
    pub tuned_threshold: bool,
    /// The level of the precursor rule the day-scale bands warned by, when they did
    /// (see [`FleetBacktestConfig::precursor`]).
    #[serde(default)]
    pub precursor_level: Option<f64>,
    /// `None` when the classifier evaluation could not run (reason in `notes`).
    pub pages: Option<PooledBacktest>,
    pub slos: Vec<SloBacktest>,
    pub notes: Vec<String>,
    /// What [`FleetReport::rescore`] scores; not part of the printed or saved report.
    #[serde(skip)]
    pub warnings: Option<Warnings>,
}

/// Sums per-SLO event scores of one band into a fleet-wide score.
pub fn pooled_score(per_slo: &[EventScore], band: &LeadBand) -> EventScore {
    let sum = |f: fn(&EventScore) -> usize| per_slo.iter().map(f).sum::<usize>();
    let incidents = sum(|s| s.incidents);
    let predicted = sum(|s| s.predicted);
    let episodes = sum(|s| s.episodes);
    let false_alarms = sum(|s| s.false_alarms);
    let ratio = |num: usize, den: usize| (den > 0).then(|| num as f64 / den as f64);
    EventScore {
        band: band.clone(),
        incidents,
        predicted,
        recall: ratio(predicted, incidents),
        episodes,
        false_alarms,
        precision: ratio(episodes - false_alarms, episodes),
        lead_times_secs: per_slo
            .iter()
            .flat_map(|s| s.lead_times_secs.iter().copied())
            .collect(),
    }
}

/// Incidents of each SLO of `fleet`, sorted: the given ones, or page starts when none given.
fn incidents_by_slo(fleet: &[SloFeatures], incidents: &[(String, i64)]) -> Vec<Vec<i64>> {
    fleet
        .iter()
        .map(|f| {
            let mut starts: Vec<i64> = if incidents.is_empty() {
                f.page_starts.clone()
            } else {
                incidents
                    .iter()
                    .filter(|(slo, _)| *slo == f.slo)
                    .map(|(_, s)| *s)
                    .collect()
            };
            starts.sort_unstable();
            starts
        })
        .collect()
}

/// The warnings of the rolling origins: per SLO (in fleet order) and per horizon (in
/// `train.horizons_secs` order), the times of the rows that warned.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Warnings {
    pub firing: Vec<Vec<Vec<i64>>>,
    pub first_origin: i64,
    /// Time of the last feature row: outcomes are known up to here.
    pub last: i64,
    pub origins: usize,
    pub days_without_model: Vec<(i64, usize)>,
}

/// The page-prediction evaluation (module docs) with its first origin at `first_origin`;
/// origins follow daily while they are before the last row. Returns the fleet-wide scores.
pub fn rolling_pooled(
    fleet: &[SloFeatures],
    incidents: &[(String, i64)],
    config: &FleetBacktestConfig,
    first_origin: i64,
) -> Result<PooledBacktest, BacktestError> {
    let warnings = rolling_warnings(fleet, config, first_origin)?;
    Ok(score_warnings(fleet, &warnings, incidents, &config.bands).0)
}

/// Trains at each daily origin and records which rows of the next day warn.
pub fn rolling_warnings(
    fleet: &[SloFeatures],
    config: &FleetBacktestConfig,
    first_origin: i64,
) -> Result<Warnings, BacktestError> {
    if config.bands.len() != config.train.horizons_secs.len() {
        return Err(BacktestError::Config(format!(
            "{} lead bands for {} horizons",
            config.bands.len(),
            config.train.horizons_secs.len()
        )));
    }
    let Some(last) = fleet
        .iter()
        .filter_map(|f| f.rows.last())
        .map(|r| r.time)
        .max()
    else {
        return Err(BacktestError::Config("no feature rows".into()));
    };
    if first_origin > last {
        return Err(BacktestError::Config(format!(
            "the first origin lies after the last row ({} h later)",
            (first_origin - last) / HOUR_SECS
        )));
    }

    // The precursor rule needs no model: train only the horizons it does not decide.
    let mut train = config.train.clone();
    if config.precursor.is_some() {
        train.horizons_secs.retain(|&h| !PrecursorRule::covers(h));
    }
    let horizons = config.train.horizons_secs.len();
    let mut firing: Vec<Vec<Vec<i64>>> = vec![vec![Vec::new(); horizons]; fleet.len()];
    let mut without_model = vec![0usize; horizons];
    let mut origins = 0usize;
    let mut origin = first_origin;
    while origin < last {
        let classifier = train_pooled(fleet, origin, &train)?;
        for (i, &h) in config.train.horizons_secs.iter().enumerate() {
            if let Some(rule) = config.precursor.filter(|_| PrecursorRule::covers(h)) {
                for (slo, slo_firing) in fleet.iter().zip(firing.iter_mut()) {
                    if !rule.has_history(slo, origin) {
                        continue;
                    }
                    let (from, to) = day_after(slo, origin);
                    for j in from..to {
                        if slo.predictable(j) && rule.warns(&slo.rows[j]) {
                            slo_firing[i].push(slo.rows[j].time);
                        }
                    }
                }
                continue;
            }
            let Some(model) = classifier.model(h) else {
                without_model[i] += 1;
                continue;
            };
            let threshold = if config.tune_threshold {
                model.warning_threshold
            } else {
                Some(config.threshold)
            };
            let Some(threshold) = threshold else {
                continue;
            };
            for (slo, slo_firing) in fleet.iter().zip(firing.iter_mut()) {
                if !predicts_horizon(slo, origin, h) {
                    continue;
                }
                let (from, to) = day_after(slo, origin);
                for j in from..to {
                    if slo.predictable(j) && model.probability(&slo.rows[j]) >= threshold {
                        slo_firing[i].push(slo.rows[j].time);
                    }
                }
            }
        }
        origins += 1;
        origin += DAY_SECS;
    }
    Ok(Warnings {
        firing,
        first_origin,
        last,
        origins,
        days_without_model: config
            .train
            .horizons_secs
            .iter()
            .copied()
            .zip(without_model)
            .collect(),
    })
}

/// The indices of `slo`'s rows in the day from `origin` on.
fn day_after(slo: &SloFeatures, origin: i64) -> (usize, usize) {
    (
        slo.rows.partition_point(|r| r.time < origin),
        slo.rows.partition_point(|r| r.time < origin + DAY_SECS),
    )
}

/// Scores `warnings` against `incidents` (`(slo, start)`; empty: the page starts), one band
/// per horizon. Returns the fleet-wide scores and, per SLO, the per-band scores.
pub fn score_warnings(
    fleet: &[SloFeatures],
    warnings: &Warnings,
    incidents: &[(String, i64)],
    bands: &[LeadBand],
) -> (PooledBacktest, Vec<Vec<EventScore>>) {
    let (first_origin, last) = (warnings.first_origin, warnings.last);
    let incidents: Vec<Vec<i64>> = incidents_by_slo(fleet, incidents)
        .into_iter()
        .map(|s| {
            s.into_iter()
                .filter(|&t| t > first_origin && t <= last)
                .collect()
        })
        .collect();
    let per_slo: Vec<Vec<EventScore>> = warnings
        .firing
        .iter()
        .zip(&incidents)
        .map(|(f, inc)| {
            bands
                .iter()
                .zip(f)
                .map(|(band, f)| {
                    let known: Vec<i64> = f
                        .iter()
                        .copied()
                        .filter(|t| t + band.lookahead_secs <= last)
                        .collect();
                    score_events(&known, HOUR_SECS, inc, band)
                })
                .collect()
        })
        .collect();
    let scores = bands
        .iter()
        .enumerate()
        .map(|(i, band)| {
            let column: Vec<EventScore> = per_slo.iter().map(|s| s[i].clone()).collect();
            pooled_score(&column, band)
        })
        .collect();
    (
        PooledBacktest {
            origins: warnings.origins,
            days_without_model: warnings.days_without_model.clone(),
            scores,
        },
        per_slo,
    )
}

/// Rolling-origin backtest of page prediction and error-ratio forecasts; see the module docs.
/// `incidents` are `(slo, start)`; empty means "use the page starts".
pub fn backtest(
    inputs: &PipelineInputs,
    incidents: &[(String, i64)],
    config: &FleetBacktestConfig,
) -> FleetReport {
    backtest_features(&build_features(inputs), incidents, config)
}

/// [`backtest`] on features already built from the inputs.
pub fn backtest_features(
    fleet: &[SloFeatures],
    incidents: &[(String, i64)],
    config: &FleetBacktestConfig,
) -> FleetReport {
    let mut report = FleetReport {
        threshold: config.threshold,
        tuned_threshold: config.tune_threshold,
        precursor_level: config.precursor.map(|r| r.level),
        pages: None,
        slos: Vec::new(),
        notes: Vec::new(),
        warnings: None,
    };
    let first = fleet
        .iter()
        .filter_map(|f| f.rows.first())
        .map(|r| r.time)
        .min();
    match first {
        None => report
            .notes
            .push("no status points: nothing to backtest".into()),
        Some(first) => {
            match rolling_warnings(fleet, config, first + config.initial_days * DAY_SECS) {
                Ok(warnings) => report.warnings = Some(warnings),
                Err(e) => report
                    .notes
                    .push(format!("page prediction not evaluated: {e}")),
            }
        }
    }

    let mut forecast = ForecastConfig::new(24, config.forecast_horizon.max(1));
    forecast.floor = Some(0.0);
    let initial_steps = usize::try_from(config.initial_days * 24).unwrap_or(0);
    for slo in fleet {
        let rolling = RollingForecastConfig {
            forecast: forecast.clone(),
            initial_steps,
            stride: 24,
            max_origins: 0,
        };
        let (result, note) = match rolling_forecast(&slo.error_ratio, &rolling) {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e.to_string())),
        };
        report.slos.push(SloBacktest {
            slo: slo.slo.clone(),
            incidents: 0,
            predicted: Vec::new(),
            episodes: Vec::new(),
            false_alarms: Vec::new(),
            forecast: result,
            note,
        });
    }
    report.rescore(fleet, incidents, &config.bands);
    report
}

impl FleetReport {
    /// Scores the report's warnings against other incidents (`(slo, start)`; empty: the page
    /// starts of `fleet`, the features the report was built from): the page scores and each
    /// SLO's incident counts change, the forecasts do not.
    pub fn rescore(
        &mut self,
        fleet: &[SloFeatures],
        incidents: &[(String, i64)],
        bands: &[LeadBand],
    ) {
        let Some(warnings) = &self.warnings else {
            return;
        };
        let (pages, per_slo) = score_warnings(fleet, warnings, incidents, bands);
        for (slo, scores) in self.slos.iter_mut().zip(&per_slo) {
            slo.incidents = scores.first().map_or(0, |s| s.incidents);
            slo.predicted = scores.iter().map(|e| e.predicted).collect();
            slo.episodes = scores.iter().map(|e| e.episodes).collect();
            slo.false_alarms = scores.iter().map(|e| e.false_alarms).collect();
        }
        self.pages = Some(pages);
    }
}

/// `v` with two decimals, or "-".
pub(crate) fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

impl fmt::Display for FleetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pages {
            Some(pages) => {
                writeln!(
                    f,
                    "page prediction: {} daily origins, {}",
                    pages.origins,
                    if self.tuned_threshold {
                        "threshold learned on each origin's training period (best event-level F0.5)"
                            .to_string()
                    } else {
                        format!("threshold {:.2}", self.threshold)
                    }
                )?;
                if let Some(level) = self.precursor_level {
                    writeln!(
                        f,
                        "  bands beyond {} h: a warning when the relevance-weighted rate-limited \
                         hours of the last day reach {level} (precursor rule), not a probability",
                        SHORT_HORIZON_MAX_SECS / HOUR_SECS
                    )?;
                }
                writeln!(
                    f,
                    "{:<6} {:>9} {:>9} {:>6} {:>8} {:>6} {:>9} {:>10}",
                    "band",
                    "incidents",
                    "predicted",
                    "recall",
                    "episodes",
                    "false",
                    "precision",
                    "median lead"
                )?;
                for s in &pages.scores {
                    let mut leads = s.lead_times_secs.clone();
                    leads.sort_unstable();
                    let median = leads.get(leads.len() / 2).map_or_else(
                        || "-".to_owned(),
                        |l| format!("{:.1} h", *l as f64 / 3_600.0),
                    );
                    writeln!(
                        f,
                        "{:<6} {:>9} {:>9} {:>6} {:>8} {:>6} {:>9} {:>10}",
                        s.band.name,
                        s.incidents,
                        s.predicted,
                        opt(s.recall),
                        s.episodes,
                        s.false_alarms,
                        opt(s.precision),
                        median
                    )?;
                }
                for (h, days) in pages.days_without_model.iter().filter(|(_, d)| *d > 0) {
                    writeln!(
                        f,
                        "  {} h horizon: no model on {days} day(s)",
                        h / HOUR_SECS
                    )?;
                }
                writeln!(
                    f,
                    "per SLO, each band: incidents predicted/incidents, false alarms/warning episodes"
                )?;
                for s in self.slos.iter().filter(|s| !s.episodes.is_empty()) {
                    write!(f, "  {:<30}", s.slo)?;
                    for (band, ((p, e), fa)) in pages
                        .scores
                        .iter()
                        .zip(s.predicted.iter().zip(&s.episodes).zip(&s.false_alarms))
                    {
                        let cell = format!("{p}/{} {fa}/{e}", s.incidents);
                        write!(f, "  {:>4} {cell:<12}", band.band.name)?;
                    }
                    writeln!(f)?;
                }
            }
            None => writeln!(f, "page prediction: not evaluated")?,
        }
        writeln!(f)?;
        writeln!(
            f,
            "error-ratio forecast, MASE (seasonal-naive scale; lower is better)"
        )?;
        writeln!(
            f,
            "{:<32} {:>9} {:>7} {:>7} {:>7} {:>14}",
            "slo", "incidents", "origins", "chosen", "naive", "seasonal naive"
        )?;
        for s in &self.slos {
            match &s.forecast {
                Some(r) => writeln!(
                    f,
                    "{:<32} {:>9} {:>7} {:>7} {:>7} {:>14}",
                    s.slo,
                    s.incidents,
                    r.origins,
                    opt(r.mase_chosen),
                    opt(r.mase_naive),
                    opt(r.mase_seasonal_naive)
                )?,
                None => writeln!(
                    f,
                    "{:<32} {:>9} {}",
                    s.slo,
                    s.incidents,
                    s.note.as_deref().unwrap_or("not evaluated")
                )?,
            }
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::pipeline::tests::{DAY, H, START, fleet_inputs};

    #[test]
    fn fleet_scores_are_the_sums_of_per_slo_counts() {
        // Band 6 h: a warning counts 1 h to 6 h before the start. Hourly firing steps.
        // SLO a: incidents at 10 h and 30 h; firing at 5 h, 6 h (episode A) and 20 h (B).
        //   10 h: window [4 h, 9 h] holds 5 h -> predicted, lead 5 h. 30 h: [24 h, 29 h] holds
        //   nothing. A: 10 h lies in (5 h, 12 h] -> true. B: nothing in (20 h, 26 h] -> false.
        // SLO b: incident at 50 h; firing 46 h..48 h (C) and 70 h (D).
        //   50 h: [44 h, 49 h] holds 46 h -> lead 4 h. C true, D false.
        // Fleet: 3 incidents, 2 predicted (recall 2/3); 4 episodes, 2 false (precision 0.5).
        let band = LeadBand::new("6 h", H, 6 * H);
        let a = score_events(&[5 * H, 6 * H, 20 * H], H, &[10 * H, 30 * H], &band);
        let b = score_events(&[46 * H, 47 * H, 48 * H, 70 * H], H, &[50 * H], &band);
        let fleet = pooled_score(&[a, b], &band);
        assert_eq!((fleet.incidents, fleet.predicted), (3, 2));
        assert_eq!(fleet.recall, Some(2.0 / 3.0));
        assert_eq!((fleet.episodes, fleet.false_alarms), (4, 2));
        assert_eq!(fleet.precision, Some(0.5));
        assert_eq!(fleet.lead_times_secs, vec![5 * H, 4 * H]);
    }

    #[test]
    fn an_slo_without_a_page_start_by_the_origin_warns_only_at_the_day_scale_horizon() {
        // At threshold 0 every predictable row of a predicted day warns, except at the 1 h and
        // 6 h horizons on the SLOs that have not paged by the origin: quiet and burning never
        // page, creep first pages at 34 h, before the first origin (day 8). Creep's pages at
        // 179 h, 208 h and 237 h last an hour and the day after each is not predicted, so of
        // days 8 and 9 (192 h..240 h) only 204 h..207 h and 233 h..236 h are predictable;
        // every hour of those days is predictable for quiet and burning.
        let pages: Vec<i64> = (0..8).map(|k| START + 34 * H + k * 29 * H).collect();
        let fleet = build_features(&fleet_inputs(10, &pages, None));
        assert_eq!(
            fleet.iter().map(|f| f.slo.as_str()).collect::<Vec<_>>(),
            ["creep", "quiet", "burning"]
        );
        let config = FleetBacktestConfig {
            threshold: 0.0,
            ..FleetBacktestConfig::default()
        };
        let warnings = rolling_warnings(&fleet, &config, START + 8 * DAY).expect("trained");
        assert_eq!(warnings.origins, 2);
        for horizon in 0..3 {
            let days = warnings.origins - warnings.days_without_model[horizon].1;
            assert!(days > 0, "{:?}", warnings.days_without_model);
            // A horizon without a model on day 8 (too few pages yet) warns on day 9 alone.
            let on_predicted_days = |hours: &[i64]| -> Vec<i64> {
                hours
                    .iter()
                    .map(|h| START + h * H)
                    .filter(|&t| days == 2 || t >= START + 9 * DAY)
                    .collect()
            };
            let creep = on_predicted_days(&[204, 205, 206, 207, 233, 234, 235, 236]);
            assert_eq!(warnings.firing[0][horizon], creep);
            let never_paged = if horizon == 2 {
                on_predicted_days(&(192..240).collect::<Vec<i64>>())
            } else {
                Vec::new()
            };
            assert_eq!(warnings.firing[1][horizon], never_paged, "{horizon}");
            assert_eq!(warnings.firing[2][horizon], never_paged, "{horizon}");
        }
    }

    #[test]
    fn the_precursor_rule_decides_the_day_scale_band_from_the_first_origin() {
        // The fleet of the test above; quiet never pages, so no classifier warning could
        // come from it. Hand-set rate-limited hours on quiet: 9 at 100 h (before the first
        // origin, day 8 = 192 h), 5 at 200 h, 3.9 at 201 h, 4 at 220 h; 10 on creep at
        // 208 h, where it pages (not predictable).
        let pages: Vec<i64> = (0..8).map(|k| START + 34 * H + k * 29 * H).collect();
        let mut fleet = build_features(&fleet_inputs(10, &pages, None));
        let mut set = |slo: usize, hour: i64, hours: f64| {
            let row = fleet[slo]
                .rows
                .iter_mut()
                .find(|r| r.time == START + hour * H)
                .expect("row");
            row.rate_limited_hours_24h = hours;
        };
        for (hour, hours) in [(100, 9.0), (200, 5.0), (201, 3.9), (220, 4.0)] {
            set(1, hour, hours);
        }
        set(0, 208, 10.0);
        let rule = |min_days| PrecursorRule {
            level: 4.0,
            min_days,
        };
        let config = |min_days| FleetBacktestConfig {
            // A probability of 2 never warns: only the rule can.
            threshold: 2.0,
            precursor: Some(rule(min_days)),
            ..FleetBacktestConfig::default()
        };
        let warnings = rolling_warnings(&fleet, &config(7.0), START + 8 * DAY).expect("trained");
        assert_eq!(warnings.firing[1][2], [START + 200 * H, START + 220 * H]);
        assert!(warnings.firing[0][2].is_empty());
        assert!(warnings.firing[2][2].is_empty());
        // The hour-scale horizons keep the probability threshold: nothing warns there.
        assert!(
            warnings
                .firing
                .iter()
                .all(|f| f[0].is_empty() && f[1].is_empty())
        );
        // The rule answers for the 48 h band on both days, with or without a model.
        assert_eq!(warnings.days_without_model[2], (48 * H, 0));

        // With 8.5 days of history required, day 8 is silent and day 9 (216 h on) is not.
        let warnings = rolling_warnings(&fleet, &config(8.5), START + 8 * DAY).expect("trained");
        assert_eq!(warnings.firing[1][2], [START + 220 * H]);

        let report = backtest_features(&fleet, &[], &config(7.0));
        assert_eq!(report.precursor_level, Some(4.0));
        assert!(
            report.to_string().contains(
                "bands beyond 6 h: a warning when the relevance-weighted rate-limited hours \
                 of the last day reach 4 (precursor rule)"
            ),
            "{report}"
        );
    }

    #[test]
    fn tiny_fleet_backtest_matches_hand_counts() {
        // Ten days; creep pages every 29 h from day 1 10:00: at 34 h, 63 h, …, 208 h, 237 h.
        // Six start before the first origin (day 8 = 192 h); 208 h and 237 h fall after it.
        let pages: Vec<i64> = (0..8).map(|k| START + 34 * H + k * 29 * H).collect();
        let inputs = fleet_inputs(10, &pages, None);
        // Ground truth: creep at 208 h and 237 h; creep at 34 h lies before the first origin
        // and is not counted; quiet at 220 h has no precursor at all.
        let incidents = vec![
            ("creep".to_owned(), START + 208 * H),
            ("creep".to_owned(), START + 237 * H),
            ("creep".to_owned(), START + 34 * H),
            ("quiet".to_owned(), START + 220 * H),
        ];
        let config = FleetBacktestConfig {
            initial_days: 8,
            ..FleetBacktestConfig::default()
        };
        let report = backtest(&inputs, &incidents, &config);
        eprintln!("{report}");

        // Origins at day 8 and day 9 (the last row, day 10 00:00, is not an origin).
        let pages_report = report.pages.as_ref().expect("evaluated");
        assert_eq!(pages_report.origins, 2);
        let six = &pages_report.scores[1];
        assert_eq!(six.incidents, 3);
        // Both creep incidents follow a 6 h climb the model was trained on; the quiet one
        // cannot be predicted.
        assert_eq!(six.predicted, 2, "{six:?}");
        assert_eq!(report.slos[1].predicted[1], 0);

        // Error-ratio forecasts: 241 hourly values (day 0 00:00 to day 10 00:00), first origin
        // at 8 * 24 = 192, horizon 48: 192 + 48 <= 241 but 216 + 48 > 241, so one origin. The
        // burning SLO's ratio is a constant 0.03: its seasonal-naive scale is 0, no MASE.
        let burning = report.slos[2].forecast.as_ref().expect("evaluated");
        assert_eq!((burning.origins, burning.origins_without_scale), (1, 1));
        assert_eq!(burning.mase_chosen, None);
        let quiet = report.slos[1].forecast.as_ref().expect("evaluated");
        assert_eq!(quiet.origins, 1);
        assert!(quiet.mase_naive.is_some());

        let table = report.to_string();
        assert!(
            table.starts_with("page prediction: 2 daily origins, threshold 0.50"),
            "{table}"
        );
        assert!(table.contains("error-ratio forecast, MASE"), "{table}");
        let _ = DAY;

        // Re-scored against the quiet incident alone: the same warnings, one incident (not
        // predicted); the forecasts stay.
        let fleet = build_features(&inputs);
        let mut quiet_only = report.clone();
        quiet_only.rescore(&fleet, &incidents[3..], &config.bands);
        let six = &quiet_only.pages.as_ref().unwrap().scores[1];
        assert_eq!((six.incidents, six.predicted), (1, 0));
        assert_eq!(quiet_only.slos[0].incidents, 0);
        assert_eq!(quiet_only.slos[1].incidents, 1);
        assert_eq!(quiet_only.slos[2].forecast, report.slos[2].forecast);
        // … and against all of them again: the original scores.
        quiet_only.rescore(&fleet, &incidents, &config.bands);
        assert_eq!(quiet_only.pages, report.pages);
    }
}
