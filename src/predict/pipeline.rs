//! The nightly prediction job, minus SQL and storage: plain rows in, prediction rows,
//! predictive warnings, serialisable models and model cards out.
//!
//! ```text
//!  PipelineInputs ─► Features ─► SloFeatures per SLO
//!                        │
//!                        ├─► Training ─► one pooled BurnClassifier (+ held-out card figures)
//!                        │
//!                        └─► Forecasting ─► error ratio 48 h ─► "sli" rows
//!                                              └─► forecast_budget ─► "budget" rows, exhaustion
//!                                         SeriesHour series 48 h ─► "series" rows
//!  ─► PipelineOutput { predictions, warnings, notes, classifier, forecasts, cards }
//! ```
//!
//! # One pooled classifier
//!
//! Pages are rare: an SLO sees a handful a month, fewer than a per-SLO model needs (see
//! [`TrainConfig`]). The features are comparable across SLOs (burn rates are already divided
//! by each SLO's allowed error ratio; shares, trends and scores are unit-free), so one model
//! is trained on the rows and page starts of all SLOs together: it learns what the hours before
//! a page look like anywhere in the fleet. The cost is that SLOs with their own habits share
//! one set of coefficients; there is no SLO identity feature.
//!
//! An SLO that has never paged in the history gets no page probability for the hour-scale
//! horizons (up to [`SHORT_HORIZON_MAX_SECS`]; a note says so): no row of it was ever
//! labelled positive, so the model knows nothing of what precedes its pages, and some SLOs
//! never page at all (a tool-success SLO fails with its tools, not with the model calls the
//! shared features describe). On three simulated 56-day fleets this raised the precision of
//! 6 h warnings from 0.18, 0.24 and 0.27 to 0.27, 0.33 and 0.38 ([`predicts_horizon`]).
//! The day-scale horizons answer for every SLO: their inputs are the day's burn against the
//! week before and rate limiting scaled by its relevance to the SLO's own errors, which
//! stay quiet where the SLO's errors do not follow the service's failures, and an SLO's
//! first quota exhaustion is what they exist to foresee. On four simulated 56-day fleets
//! (fixed end) that raised 48 h recall where a precursor exists on one from 0.50 to 0.62
//! (precision 0.88 to 0.90), and changed nothing on the other three nor on the default
//! 28-day fleet.
//!
//! [`BurnClassifier::train`] wants one strictly increasing timeline, so [`train_pooled`] lays
//! the SLOs' rows end to end: SLO `i` is shifted by `i * S`, with `S` a whole number of weeks
//! longer than the history plus the longest horizon. Whole weeks keep the time-of-day and
//! day-of-week features intact, and the gap keeps one SLO's pages out of another SLO's
//! labels. The minimum-history check runs on the real (unshifted) span.
//!
//! Rows without a status point and rows during a firing page are left out of training and get
//! no prediction: "a page starts within `h`" has no meaning while one is firing (a note says
//! so).
//!
//! # Budget projection assumptions
//!
//! - The latest `budget_remaining` at or before `now` is the starting point; what was spent
//!   between that status point and `now` (at most minutes) is ignored.
//! - Each forecast hour spends `r / ((1 - target) * W)` of the budget, `W` the SLO window in
//!   hours: traffic is taken as even over the window (see [`forecast_budget`]).
//! - Errors leaving the rolling window do not give budget back, so the curve only falls; the
//!   projection is pessimistic for SLOs that had a bad day late in the window.
//! - The band is the budget along the upper and lower interval bounds of the error-ratio
//!   forecast, i.e. errors fully correlated across hours: wider than a true interval.
//!
//! # Rows
//!
//! `budget`, `sli` and `series` rows are emitted at [`PipelineConfig::row_horizons_hours`];
//! `page` rows at the classifier's horizons. Horizon `k` of an SLO forecast is the hour ending
//! at `now + k h`; of a series forecast, the hour starting `k` hours after the series' last
//! hour (`for_time` is that hour's start).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::predict::backtest::LeadBand;
use crate::predict::backtest_fleet::{self, FleetBacktestConfig};
use crate::predict::card::ModelCard;
use crate::predict::classify::{
    BurnClassifier, BurnProbability, ClassifyError, FEATURE_NAMES, FeatureRow, HorizonFit,
    InsufficientHistory, SHORT_HORIZON_MAX_SECS, Shortfall, TrainConfig, horizon_label,
    train_horizon,
};
use crate::predict::features::{AFTER_PAGE_SECS, HOUR_SECS, SloFeatures, slo_features};
use crate::predict::forecast::{Forecast, ForecastConfig, forecast, forecast_budget};
use crate::predict::precursor::{self, PrecursorRule};
use crate::predict::threshold;

pub use crate::predict::features::{
    AnomalyPoint, PipelineInputs, SeriesHour, ServiceHour, SloInfo, StatusPoint,
};

const DAY_SECS: i64 = 86_400;
const WEEK_SECS: i64 = 7 * DAY_SECS;

/// Model names written to the `model` column.
pub const CLASSIFIER_MODEL: &str = "burn_classifier";

/// A stage of [`run`], reported to the progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Features,
    Training,
    Forecasting,
}

/// Settings of the nightly job.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Hourly steps forecast (48).
    pub horizon_hours: usize,
    /// Horizons of the `budget`, `sli` and `series` rows.
    pub row_horizons_hours: Vec<usize>,
    /// Classifier settings; its horizons are those of the `page` rows.
    pub train: TrainConfig,
    /// Coverage of the `lower` / `upper` columns.
    pub interval_level: f64,
    /// Warn when the budget is forecast to run out within this many hours.
    pub budget_warning_hours: f64,
    /// Warn when the page probability at [`Self::page_warning_horizon_secs`] reaches this;
    /// `None`: the precursor rule at a day-scale horizon ([`Self::precursor_level`]), else
    /// the threshold that horizon's model learned ([`crate::predict::threshold`]), and no
    /// warning when it learned none.
    pub page_warning_probability: Option<f64>,
    pub page_warning_horizon_secs: i64,
    /// Level of the precursor rule the day-scale horizons warn by
    /// ([`crate::predict::precursor`]); `None` or 0: their learned thresholds instead.
    pub precursor_level: Option<f64>,
    /// Days at the end of the history held out for the card figures (0 = none).
    pub card_holdout_days: i64,
    /// Lower bound of `SeriesHour` forecasts (0: counts, tokens, cost, durations).
    pub series_floor: Option<f64>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            horizon_hours: 48,
            row_horizons_hours: vec![1, 6, 12, 24, 48],
            train: TrainConfig::default(),
            interval_level: 0.8,
            budget_warning_hours: 48.0,
            page_warning_probability: None,
            page_warning_horizon_secs: 48 * HOUR_SECS,
            precursor_level: Some(precursor::DEFAULT_LEVEL),
            card_holdout_days: 3,
            series_floor: Some(0.0),
        }
    }
}

impl PipelineConfig {
    /// The rule the day-scale horizons warn by: none when a page probability is configured
    /// (it replaces every learned level) or the level is unset or 0.
    pub fn precursor_rule(&self) -> Option<PrecursorRule> {
        match (self.page_warning_probability, self.precursor_level) {
            (None, Some(level)) if level > 0.0 => Some(PrecursorRule {
                level,
                min_days: self.train.min_days,
            }),
            _ => None,
        }
    }

    /// A backtest that warns as the job does with these settings (learned or configured
    /// probabilities, the precursor rule), from the default first origin.
    pub fn backtest_config(&self) -> FleetBacktestConfig {
        FleetBacktestConfig {
            train: self.train.clone(),
            threshold: self.page_warning_probability.unwrap_or_default(),
            tune_threshold: self.page_warning_probability.is_none(),
            precursor: self.precursor_rule(),
            bands: bands_for(&self.train.horizons_secs),
            ..FleetBacktestConfig::default()
        }
    }

    /// The precursor rule, when it decides the warnings of the alerting horizon.
    fn alerting_precursor(&self) -> Option<PrecursorRule> {
        self.precursor_rule()
            .filter(|_| PrecursorRule::covers(self.page_warning_horizon_secs))
    }
}

/// One row of Vigil's `predictions` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRow {
    /// When the prediction was made (= `now`).
    pub time: i64,
    /// SLO or series name.
    pub target: String,
    /// `"budget"`, `"sli"`, `"page"` or `"series"`.
    pub kind: String,
    pub horizon_hours: f64,
    pub for_time: i64,
    pub forecast: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub probability: Option<f64>,
    pub exhausts_at: Option<i64>,
    pub model: String,
    pub model_version: String,
}

/// Something worth telling a person before it happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictiveWarning {
    /// The SLO.
    pub target: String,
    /// `"budget_exhaustion"`, `"page_probability"` or `"rate_limit_precursor"`.
    pub kind: String,
    pub summary: String,
    /// Hours until exhaustion, the probability, or the relevance-weighted rate-limited
    /// hours of the last day.
    pub value: f64,
    pub horizon_hours: f64,
    pub exhausts_at: Option<i64>,
}

/// A fitted forecast, kept so it can be saved with its card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetForecast {
    pub target: String,
    /// `"error_ratio"` or `"series"`.
    pub kind: String,
    /// Unix seconds of the last observation (hour end for SLOs, hour start for series).
    pub last_time: i64,
    pub forecast: Forecast,
}

/// Everything the job produces.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineOutput {
    pub model_version: String,
    pub predictions: Vec<PredictionRow>,
    pub warnings: Vec<PredictiveWarning>,
    /// Insufficient history, failed forecasts, skipped SLOs.
    pub notes: Vec<String>,
    /// `None` when training failed; horizons without enough history are inside it as
    /// [`HorizonFit::InsufficientHistory`].
    pub classifier: Option<BurnClassifier>,
    pub forecasts: Vec<TargetForecast>,
    /// `burn_classifier` (when trained), `error_ratio_forecast`, `series_forecast` (when any).
    pub cards: Vec<ModelCard>,
}

impl PipelineOutput {
    /// Whether this run trained a classifier (and so saves its card).
    pub fn trained_classifier(&self) -> bool {
        self.cards.iter().any(|c| c.kind == CLASSIFIER_MODEL)
    }

    /// An output with nothing in it yet, for the run `model_version`.
    pub fn empty(model_version: &str) -> Self {
        Self {
            model_version: model_version.to_owned(),
            predictions: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
            classifier: None,
            forecasts: Vec::new(),
            cards: Vec::new(),
        }
    }
}

/// Why `slo` gets no hour-scale page probability: it has never paged, so the pooled
/// classifier has never seen a page of it.
pub fn never_paged_note(slo: &str) -> String {
    format!(
        "{slo}: has not paged in the stored history; no page probability within {} until it \
         has",
        horizon_label(SHORT_HORIZON_MAX_SECS)
    )
}

/// Whether `slo` gets a page probability for `horizon_secs` at `t`: the day-scale horizons
/// (longer than [`SHORT_HORIZON_MAX_SECS`]) for every SLO, the hour-scale ones once it has
/// paged (module docs).
pub fn predicts_horizon(slo: &SloFeatures, t: i64, horizon_secs: i64) -> bool {
    horizon_secs > SHORT_HORIZON_MAX_SECS || slo.has_paged_by(t)
}

/// The row at `now` a page probability is given for, with the note saying why the
/// hour-scale horizons withhold theirs when `slo` has never paged ([`predicts_horizon`]
/// says which answer); or the note saying why `slo` gets none: no status point now, or a
/// page firing or just over (module docs).
pub fn page_probability_row(
    slo: &SloFeatures,
    now: i64,
) -> Result<(&FeatureRow, Option<String>), String> {
    let Some(row) = slo.row_now(now) else {
        return Err(format!(
            "{}: no status point within 15 min of now; no page probability",
            slo.slo
        ));
    };
    if slo.paging.last().copied().unwrap_or(false) {
        return Err(format!(
            "{}: a page is firing now; no page-start probability",
            slo.slo
        ));
    }
    if slo.after_page.last().copied().unwrap_or(false) {
        return Err(format!(
            "{}: paged less than {} h ago; no page-start probability until then",
            slo.slo,
            AFTER_PAGE_SECS / HOUR_SECS
        ));
    }
    let withheld = (!slo.has_paged_by(now)).then(|| never_paged_note(&slo.slo));
    Ok((row, withheld))
}

/// `%Y%m%dT%H%MZ` of `now`.
pub fn model_version(now: i64) -> String {
    chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.format("%Y%m%dT%H%MZ").to_string())
        .unwrap_or_else(|| now.to_string())
}

/// Runs the job; see the module documentation. Never fails as a whole: what could not be
/// computed is explained in `notes`.
pub fn run(
    inputs: &PipelineInputs,
    config: &PipelineConfig,
    progress: &mut dyn FnMut(Stage, usize, usize),
) -> PipelineOutput {
    let now = inputs.now;
    let mut out = PipelineOutput::empty(&model_version(now));

    let total = inputs.slos.len();
    let mut fleet = Vec::with_capacity(total);
    for (i, slo) in inputs.slos.iter().enumerate() {
        progress(Stage::Features, i, total);
        fleet.push(slo_features(slo, inputs));
    }
    progress(Stage::Features, total, total);

    train_stage(inputs, &fleet, config, &mut out, progress);
    precursor_warnings(now, &fleet, config, &mut out);
    forecast_stage(inputs, &fleet, config, &mut out, progress);
    out
}

/// The warnings of the precursor rule, when it decides the alerting horizon's
/// ([`crate::predict::precursor`]), with the page probability of that horizon in the summary
/// when the classifier gave one.
fn precursor_warnings(
    now: i64,
    fleet: &[SloFeatures],
    config: &PipelineConfig,
    out: &mut PipelineOutput,
) {
    let Some(rule) = config.alerting_precursor() else {
        return;
    };
    let horizon_secs = config.page_warning_horizon_secs;
    let horizon_hours = horizon_secs as f64 / HOUR_SECS as f64;
    for slo in fleet {
        // Why an SLO without a row now gets nothing is already in the notes.
        let Ok((row, _)) = page_probability_row(slo, now) else {
            continue;
        };
        if !rule.has_history(slo, now) {
            out.notes.push(rule.short_history_note(&slo.slo));
            continue;
        }
        if !rule.warns(row) {
            continue;
        }
        let probability = out
            .predictions
            .iter()
            .find(|p| p.kind == "page" && p.target == slo.slo && p.horizon_hours == horizon_hours)
            .and_then(|p| p.probability)
            .map(|p| {
                format!(
                    "; {:.0} % probability that a page starts within {}",
                    100.0 * p,
                    horizon_label(horizon_secs)
                )
            })
            .unwrap_or_default();
        out.warnings.push(PredictiveWarning {
            target: slo.slo.clone(),
            kind: "rate_limit_precursor".into(),
            summary: format!(
                "{}: rate limiting spread over {:.1} of the last 24 hours, weighted by how \
                 closely its errors follow it (warns from {}): a quota may run out within {}{}",
                slo.slo,
                row.rate_limited_hours_24h,
                rule.level,
                horizon_label(horizon_secs),
                probability
            ),
            value: row.rate_limited_hours_24h,
            horizon_hours,
            exhausts_at: None,
        });
    }
}

fn train_stage(
    inputs: &PipelineInputs,
    fleet: &[SloFeatures],
    config: &PipelineConfig,
    out: &mut PipelineOutput,
    progress: &mut dyn FnMut(Stage, usize, usize),
) {
    let now = inputs.now;
    let steps = 2;
    progress(Stage::Training, 0, steps);
    let classifier = match train_pooled(fleet, now, &config.train) {
        Ok(c) => c,
        Err(e) => {
            out.notes.push(format!("page classifier not trained: {e}"));
            progress(Stage::Training, steps, steps);
            return;
        }
    };
    let mut reported = false;
    for fit in &classifier.horizons {
        if let HorizonFit::InsufficientHistory(short) = fit {
            out.notes.push(short.to_string());
            reported = true;
        }
    }
    // Where the precursor rule decides, the probability raises no warning of its own.
    let rule_decides = config.alerting_precursor().is_some();
    let warn_at = page_warning_threshold(&classifier, config.page_warning_horizon_secs, config)
        .filter(|_| !rule_decides);
    if classifier.model(config.page_warning_horizon_secs).is_some()
        && warn_at.is_none()
        && !rule_decides
    {
        out.notes.push(format!(
            "the {} page probability raises no alert: on its training period no threshold \
             warned of a page with at least {} times the precision of warning all the time \
             (set [predict] page_probability to alert at a fixed one)",
            horizon_label(config.page_warning_horizon_secs),
            threshold::MIN_PRECISION_LIFT
        ));
    }

    for slo in fleet {
        let row = match page_probability_row(slo, now) {
            Ok((row, withheld)) => {
                out.notes.extend(withheld);
                row
            }
            Err(note) => {
                out.notes.push(note);
                continue;
            }
        };
        for answer in classifier.predict(row) {
            let BurnProbability::Probability {
                horizon_secs,
                probability,
            } = answer
            else {
                // Already reported once per horizon above.
                continue;
            };
            if !predicts_horizon(slo, now, horizon_secs) {
                continue;
            }
            out.predictions.push(PredictionRow {
                time: now,
                target: slo.slo.clone(),
                kind: "page".into(),
                horizon_hours: horizon_secs as f64 / HOUR_SECS as f64,
                for_time: now + horizon_secs,
                forecast: None,
                lower: None,
                upper: None,
                probability: Some(probability),
                exhausts_at: None,
                model: CLASSIFIER_MODEL.into(),
                model_version: out.model_version.clone(),
            });
            if horizon_secs == config.page_warning_horizon_secs
                && let Some(threshold) = warn_at
                && probability >= threshold
            {
                out.warnings.push(PredictiveWarning {
                    target: slo.slo.clone(),
                    kind: "page_probability".into(),
                    summary: format!(
                        "{}: {:.0} % probability that a page starts within {} (warns from \
                         {:.0} %)",
                        slo.slo,
                        100.0 * probability,
                        horizon_label(horizon_secs),
                        100.0 * threshold
                    ),
                    value: probability,
                    horizon_hours: horizon_secs as f64 / HOUR_SECS as f64,
                    exhausts_at: None,
                });
            }
        }
    }
    progress(Stage::Training, 1, steps);

    let trained: Vec<(i64, i64)> = classifier
        .horizons
        .iter()
        .filter_map(|f| match f {
            HorizonFit::Ready(m) => Some((m.train_start, m.train_end)),
            HorizonFit::InsufficientHistory(_) => None,
        })
        .collect();
    if let (Some(start), Some(end)) = (
        trained.iter().map(|r| r.0).min(),
        trained.iter().map(|r| r.1).max(),
    ) {
        let mut card = ModelCard::new(
            CLASSIFIER_MODEL,
            &out.model_version,
            (start, end),
            &FEATURE_NAMES,
        );
        card.metrics.insert("slos".into(), fleet.len() as f64);
        let pages: usize = fleet.iter().map(|f| f.page_starts.len()).sum();
        card.metrics.insert("page_starts".into(), pages as f64);
        for model in classifier.horizons.iter().filter_map(|f| match f {
            HorizonFit::Ready(m) => Some(m),
            HorizonFit::InsufficientHistory(_) => None,
        }) {
            if let Some(t) = model.warning_threshold {
                let key = horizon_label(model.horizon_secs).replace(' ', "");
                card.metrics.insert(format!("learned_threshold_{key}"), t);
            }
        }
        classifier_holdout_metrics(fleet, now, config, &mut card, &mut out.notes);
        out.cards.push(card);
    } else if !reported {
        out.notes
            .push("page classifier has no trained horizon".into());
    }
    out.classifier = Some(classifier);
    progress(Stage::Training, steps, steps);
}

/// The probability at which the model of `horizon_secs` warns (see
/// [`PipelineConfig::page_warning_probability`]); `None` without a model, or when it
/// learned no threshold and none is configured.
pub fn page_warning_threshold(
    classifier: &BurnClassifier,
    horizon_secs: i64,
    config: &PipelineConfig,
) -> Option<f64> {
    let model = classifier.model(horizon_secs)?;
    config.page_warning_probability.or(model.warning_threshold)
}

/// Held-out event scores of the pooled classifier over the last `card_holdout_days` days,
/// each day predicted by a model trained on the days before it.
fn classifier_holdout_metrics(
    fleet: &[SloFeatures],
    now: i64,
    config: &PipelineConfig,
    card: &mut ModelCard,
    notes: &mut Vec<String>,
) {
    if config.card_holdout_days <= 0 {
        return;
    }
    let Some(first) = fleet
        .iter()
        .filter_map(|f| f.rows.first())
        .map(|r| r.time)
        .min()
    else {
        return;
    };
    let first_origin = now - config.card_holdout_days * DAY_SECS;
    let history_days = (first_origin - first) / DAY_SECS;
    if (history_days as f64) < config.train.min_days {
        notes.push(format!(
            "classifier card has no held-out figures: {history_days} day(s) before the last \
             {} held-out day(s), at least {:.1} are needed",
            config.card_holdout_days, config.train.min_days
        ));
        return;
    }
    let backtest = FleetBacktestConfig {
        initial_days: history_days,
        ..config.backtest_config()
    };
    match backtest_fleet::rolling_pooled(fleet, &[], &backtest, first + history_days * DAY_SECS) {
        Ok(result) => {
            card.metrics
                .insert("holdout_days".into(), result.origins as f64);
            if let Some(threshold) = config.page_warning_probability {
                card.metrics.insert("threshold".into(), threshold);
            }
            for score in &result.scores {
                let key = score.band.name.replace(' ', "");
                card.metrics
                    .insert(format!("incidents_{key}"), score.incidents as f64);
                if let Some(r) = score.recall {
                    card.metrics.insert(format!("recall_{key}"), r);
                }
                if let Some(p) = score.precision {
                    card.metrics.insert(format!("precision_{key}"), p);
                }
            }
        }
        Err(e) => notes.push(format!("classifier card has no held-out figures: {e}")),
    }
}

/// The usual lead band for each horizon (see [`LeadBand::defaults`]); other horizons get a band
/// from one hour-step to the horizon.
pub fn bands_for(horizons_secs: &[i64]) -> Vec<LeadBand> {
    let defaults = LeadBand::defaults();
    horizons_secs
        .iter()
        .map(|&h| {
            defaults
                .iter()
                .find(|b| b.lookahead_secs == h)
                .cloned()
                .unwrap_or_else(|| LeadBand::new(&horizon_label(h), HOUR_SECS.min(h), h))
        })
        .collect()
}

/// Trains one classifier on the rows of all SLOs together (module docs: rows laid end to end,
/// real-span history check). Only predictable rows ([`SloFeatures::predictable`]) whose
/// outcome window ends by `cutoff` are labelled; page starts after `cutoff` are not used.
/// Each trained horizon learns the probability it warns at on the same period
/// ([`crate::predict::threshold`]).
pub fn train_pooled(
    fleet: &[SloFeatures],
    cutoff: i64,
    config: &TrainConfig,
) -> Result<BurnClassifier, ClassifyError> {
    let first = fleet
        .iter()
        .filter_map(|f| f.rows.first())
        .map(|r| r.time)
        .min();
    let last = fleet
        .iter()
        .filter_map(|f| f.rows.last())
        .map(|r| r.time)
        .max();
    let span = match (first, last) {
        (Some(a), Some(b)) => b - a,
        _ => 0,
    };
    let longest = config
        .horizons_secs
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(0);
    let shift = ((span + longest + DAY_SECS) / WEEK_SECS + 1) * WEEK_SECS;

    let mut horizons = Vec::with_capacity(config.horizons_secs.len());
    for &h in &config.horizons_secs {
        if h <= 0 {
            return Err(ClassifyError::Horizon(h));
        }
        let mut rows: Vec<FeatureRow> = Vec::new();
        let mut pages: Vec<i64> = Vec::new();
        let mut real: Option<(i64, i64)> = None;
        for (i, slo) in fleet.iter().enumerate() {
            let offset = i as i64 * shift;
            for (j, row) in slo.rows.iter().enumerate() {
                if slo.predictable(j) && row.time + h <= cutoff {
                    real = Some(real.map_or((row.time, row.time), |(a, b)| {
                        (a.min(row.time), b.max(row.time))
                    }));
                    rows.push(FeatureRow {
                        time: row.time + offset,
                        ..row.clone()
                    });
                }
            }
            pages.extend(
                slo.page_starts
                    .iter()
                    .filter(|&&s| s <= cutoff)
                    .map(|s| s + offset),
            );
        }
        let short = |shortfall| {
            HorizonFit::InsufficientHistory(InsufficientHistory {
                horizon_secs: h,
                shortfall,
            })
        };
        let (Some((real_start, real_end)), Some(last_row)) = (real, rows.last()) else {
            horizons.push(short(Shortfall::NoLabelledRows));
            continue;
        };
        let days = (real_end - real_start) as f64 / DAY_SECS as f64;
        if days < config.min_days {
            horizons.push(short(Shortfall::Days {
                have: days,
                need: config.min_days,
            }));
            continue;
        }
        let shifted_cutoff = last_row.time + h;
        horizons.push(
            match train_horizon(&rows, &pages, shifted_cutoff, h, config)? {
                Ok(mut model) => {
                    model.train_start = real_start;
                    model.train_end = real_end;
                    let band = bands_for(&[h]).remove(0);
                    // Rows whose outcome is unknown at the cutoff are not tuned on: spare
                    // computing their probability.
                    let scores = threshold::row_scores(fleet, |row| {
                        if row.time + h <= cutoff {
                            model.probability(row)
                        } else {
                            0.0
                        }
                    });
                    model.warning_threshold =
                        threshold::tuned_threshold(fleet, cutoff, &band, &scores);
                    HorizonFit::Ready(model)
                }
                Err(short) => HorizonFit::InsufficientHistory(short),
            },
        );
    }
    Ok(BurnClassifier { horizons })
}

/// The forecast settings used for SLO error ratios and series: hourly, daily season.
pub fn hourly_forecast_config(config: &PipelineConfig, floor: Option<f64>) -> ForecastConfig {
    let mut f = ForecastConfig::new(24, config.horizon_hours.max(1));
    f.levels = vec![config.interval_level];
    f.floor = floor;
    f
}

fn forecast_stage(
    inputs: &PipelineInputs,
    fleet: &[SloFeatures],
    config: &PipelineConfig,
    out: &mut PipelineOutput,
    progress: &mut dyn FnMut(Stage, usize, usize),
) {
    let now = inputs.now;
    let series = group_series(&inputs.series);
    let total = fleet.len() + series.len();
    let ratio_config = hourly_forecast_config(config, Some(0.0));
    let mut ratio_card = ModelCard::new(
        "error_ratio_forecast",
        &out.model_version,
        (
            fleet
                .iter()
                .filter_map(|f| f.rows.first())
                .map(|r| r.time)
                .min()
                .unwrap_or(now),
            now,
        ),
        &["error_ratio"],
    );

    for (i, (slo, info)) in fleet.iter().zip(&inputs.slos).enumerate() {
        progress(Stage::Forecasting, i, total);
        if !slo.observed.iter().any(|o| *o) {
            out.notes
                .push(format!("{}: no status points; no forecast", slo.slo));
            continue;
        }
        let f = match forecast(&slo.error_ratio, &ratio_config) {
            Ok(f) => f,
            Err(e) => {
                out.notes
                    .push(format!("{}: error ratio not forecast: {e}", slo.slo));
                continue;
            }
        };
        ratio_card
            .metrics
            .insert(format!("residual_sd:{}", slo.slo), f.residual_sd);
        holdout_mase(
            &slo.slo,
            &slo.error_ratio,
            &ratio_config,
            config,
            &mut ratio_card,
        );
        sli_rows(now, slo, &f, config, out);
        budget_rows(now, slo, info, &f, config, out);
        out.forecasts.push(TargetForecast {
            target: slo.slo.clone(),
            kind: "error_ratio".into(),
            last_time: now,
            forecast: f,
        });
    }
    if out.forecasts.iter().any(|f| f.kind == "error_ratio") {
        out.cards.push(ratio_card);
    }

    let series_config = hourly_forecast_config(config, config.series_floor);
    let mut series_card: Option<ModelCard> = None;
    for (j, (name, (first_hour, values))) in series.iter().enumerate() {
        progress(Stage::Forecasting, fleet.len() + j, total);
        let last_hour = first_hour + (values.len() as i64 - 1) * HOUR_SECS;
        if last_hour + 2 * HOUR_SECS < now {
            out.notes.push(format!(
                "series {name}: last hour starts {} h before now; forecast from there",
                (now - last_hour) / HOUR_SECS
            ));
        }
        let f = match forecast(values, &series_config) {
            Ok(f) => f,
            Err(e) => {
                out.notes.push(format!("series {name} not forecast: {e}"));
                continue;
            }
        };
        let card = series_card.get_or_insert_with(|| {
            ModelCard::new(
                "series_forecast",
                &out.model_version,
                (*first_hour, last_hour),
                &["value"],
            )
        });
        holdout_mase(name, values, &series_config, config, card);
        for &k in &config.row_horizons_hours {
            let Some(point) = k.checked_sub(1).and_then(|s| f.mean.get(s)) else {
                continue;
            };
            let interval = f.interval(config.interval_level);
            out.predictions.push(PredictionRow {
                time: now,
                target: name.clone(),
                kind: "series".into(),
                horizon_hours: k as f64,
                for_time: last_hour + k as i64 * HOUR_SECS,
                forecast: Some(*point),
                lower: interval.and_then(|i| i.lower.get(k - 1).copied()),
                upper: interval.and_then(|i| i.upper.get(k - 1).copied()),
                probability: None,
                exhausts_at: None,
                model: f.model.name().into(),
                model_version: out.model_version.clone(),
            });
        }
        out.forecasts.push(TargetForecast {
            target: name.clone(),
            kind: "series".into(),
            last_time: last_hour,
            forecast: f,
        });
    }
    out.cards.extend(series_card);
    progress(Stage::Forecasting, total, total);
}

/// Held-out MASE of the chosen model and both baselines over the last days, into the card.
fn holdout_mase(
    name: &str,
    values: &[f64],
    forecast: &ForecastConfig,
    config: &PipelineConfig,
    card: &mut ModelCard,
) {
    let days = usize::try_from(config.card_holdout_days).unwrap_or(0);
    let holdout = days * 24;
    let needed = forecast.horizon + holdout + 7 * 24;
    if days == 0 || values.len() < needed {
        return;
    }
    let rolling = crate::predict::backtest::RollingForecastConfig {
        forecast: forecast.clone(),
        initial_steps: values.len() - forecast.horizon - holdout + 24,
        stride: 24,
        max_origins: days,
    };
    if let Ok(result) = crate::predict::backtest::rolling_forecast(values, &rolling) {
        let figures = [
            ("mase", result.mase_chosen),
            ("mase_naive", result.mase_naive),
            ("mase_seasonal_naive", result.mase_seasonal_naive),
        ];
        for (key, value) in figures {
            if let Some(v) = value {
                card.metrics.insert(format!("{key}:{name}"), v);
            }
        }
    }
}

fn sli_rows(
    now: i64,
    slo: &SloFeatures,
    f: &Forecast,
    config: &PipelineConfig,
    out: &mut PipelineOutput,
) {
    let interval = f.interval(config.interval_level);
    for &k in &config.row_horizons_hours {
        let Some(ratio) = k.checked_sub(1).and_then(|s| f.mean.get(s)) else {
            continue;
        };
        let sli = |r: f64| (1.0 - r).clamp(0.0, 1.0);
        out.predictions.push(PredictionRow {
            time: now,
            target: slo.slo.clone(),
            kind: "sli".into(),
            horizon_hours: k as f64,
            for_time: now + k as i64 * HOUR_SECS,
            forecast: Some(sli(*ratio)),
            lower: interval.and_then(|i| i.upper.get(k - 1)).map(|r| sli(*r)),
            upper: interval.and_then(|i| i.lower.get(k - 1)).map(|r| sli(*r)),
            probability: None,
            exhausts_at: None,
            model: f.model.name().into(),
            model_version: out.model_version.clone(),
        });
    }
}

fn budget_rows(
    now: i64,
    slo: &SloFeatures,
    info: &SloInfo,
    f: &Forecast,
    config: &PipelineConfig,
    out: &mut PipelineOutput,
) {
    let Some((_, left)) = slo.budget else {
        out.notes.push(format!(
            "{}: no budget_remaining at or before now; no budget forecast",
            slo.slo
        ));
        return;
    };
    let window_steps = usize::try_from(info.window_secs / HOUR_SECS).unwrap_or(0);
    let left = left.min(1.0);
    let project = |path: &[f64]| forecast_budget(left, info.target, window_steps, path);
    let point = match project(&f.mean) {
        Ok(b) => b,
        Err(e) => {
            out.notes
                .push(format!("{}: budget not projected: {e}", slo.slo));
            return;
        }
    };
    let interval = f.interval(config.interval_level);
    let pessimistic = interval.and_then(|i| project(&i.upper).ok());
    let optimistic = interval.and_then(|i| project(&i.lower).ok());
    let exhausts_after = point.exhausted_after_secs(HOUR_SECS);
    let exhausts_at = exhausts_after.map(|s| now + s.round() as i64);

    for &k in &config.row_horizons_hours {
        let Some(remaining) = k.checked_sub(1).and_then(|s| point.remaining.get(s)) else {
            continue;
        };
        let at = |b: &Option<crate::predict::forecast::BudgetForecast>| {
            b.as_ref().and_then(|b| b.remaining.get(k - 1).copied())
        };
        out.predictions.push(PredictionRow {
            time: now,
            target: slo.slo.clone(),
            kind: "budget".into(),
            horizon_hours: k as f64,
            for_time: now + k as i64 * HOUR_SECS,
            forecast: Some(*remaining),
            lower: at(&pessimistic),
            upper: at(&optimistic),
            probability: None,
            exhausts_at,
            model: f.model.name().into(),
            model_version: out.model_version.clone(),
        });
    }

    if let Some(secs) = exhausts_after {
        let hours = secs / HOUR_SECS as f64;
        if hours <= config.budget_warning_hours {
            let summary = if hours <= 0.0 {
                format!("error budget of {} is already spent", slo.slo)
            } else {
                format!(
                    "error budget of {} forecast to run out in {:.0} h",
                    slo.slo, hours
                )
            };
            out.warnings.push(PredictiveWarning {
                target: slo.slo.clone(),
                kind: "budget_exhaustion".into(),
                summary,
                value: hours,
                horizon_hours: config.budget_warning_hours,
                exhausts_at,
            });
        }
    }
}

/// Series name → (first hour, hourly values). Missing hours inside a series carry the previous
/// value forward; duplicate hours keep the last row given; non-finite values count as missing.
fn group_series(rows: &[SeriesHour]) -> BTreeMap<String, (i64, Vec<f64>)> {
    let mut by_name: BTreeMap<&str, BTreeMap<i64, f64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.value.is_finite()) {
        by_name
            .entry(r.series.as_str())
            .or_default()
            .insert(r.hour, r.value);
    }
    by_name
        .into_iter()
        .filter_map(|(name, hours)| {
            let (&first, _) = hours.first_key_value()?;
            let (&last, _) = hours.last_key_value()?;
            let mut values = Vec::new();
            let mut carried = 0.0;
            let mut t = first;
            while t <= last {
                if let Some(v) = hours.get(&t) {
                    carried = *v;
                }
                values.push(carried);
                t += HOUR_SECS;
            }
            Some((name.to_owned(), (first, values)))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const H: i64 = HOUR_SECS;
    pub(crate) const DAY: i64 = DAY_SECS;
    /// Midnight UTC, a whole number of days after the epoch.
    pub(crate) const START: i64 = 19_000 * DAY;

    /// Deterministic noise in [0, 1).
    fn wobble(i: i64) -> f64 {
        ((i.wrapping_mul(7_919) ^ 0x5bd1) % 97) as f64 / 97.0
    }

    /// Three SLOs (objective 0.99, 30-day window), 5-minute status for `days` days, ending at
    /// `now = START + days`:
    ///
    /// - `creep`: burn_1h 0.3 (+ noise); during the 6 h before each page it rises linearly to
    ///   5, then a page fires for 1 h at burn 20. Pages start at `page_starts`; `now` may sit
    ///   inside the precursor of a page that has not started yet (`next_page`).
    /// - `quiet`: burn_1h 0.3 (+ noise), never pages.
    /// - `burning`: burn 3 throughout (error ratio 0.03), budget left 0.15, never pages.
    pub(crate) fn fleet_inputs(days: i64, pages: &[i64], next_page: Option<i64>) -> PipelineInputs {
        let now = START + days * DAY;
        let mut status = Vec::new();
        let mut all_pages = pages.to_vec();
        all_pages.extend(next_page);
        let mut t = START;
        let mut i = 0;
        while t <= now {
            let noise = 0.1 * wobble(i);
            // creep
            let upcoming = all_pages.iter().find(|&&s| s + H > t).copied();
            let (burn, firing) = match upcoming {
                Some(s) if t >= s => (20.0, Some("page")),
                Some(s) if s - t <= 6 * H => {
                    (0.3 + 4.7 * (1.0 - (s - t) as f64 / (6.0 * H as f64)), None)
                }
                _ => (0.3 + noise, None),
            };
            status.push(status_point(t, "creep", burn + noise, 0.9, firing));
            status.push(status_point(t, "quiet", 0.3 + noise, 0.9, None));
            status.push(status_point(t, "burning", 3.0, 0.15, None));
            t += 300;
            i += 1;
        }
        let slo = |name: &str| SloInfo {
            name: name.into(),
            service: None,
            target: 0.99,
            window_secs: 30 * DAY,
            // The budget stays put while `creep` pages: every page counts.
            page_budget_fraction: None,
        };
        PipelineInputs {
            now,
            slos: vec![slo("creep"), slo("quiet"), slo("burning")],
            status,
            anomalies: Vec::new(),
            services: Vec::new(),
            series: (0..days * 24)
                .map(|k| SeriesHour {
                    hour: START + k * H,
                    series: "requests".into(),
                    value: 100.0 + 20.0 * (std::f64::consts::TAU * (k % 24) as f64 / 24.0).sin(),
                })
                .collect(),
        }
    }

    fn status_point(
        t: i64,
        slo: &str,
        burn: f64,
        budget: f64,
        firing: Option<&str>,
    ) -> StatusPoint {
        StatusPoint {
            time: t,
            slo: slo.into(),
            budget_remaining: Some(budget),
            burn_5m: Some(burn),
            burn_1h: Some(burn),
            burn_6h: Some(burn),
            total: 1_000,
            firing: firing.map(str::to_owned),
        }
    }

    /// Eight pages, one every 2.5 days from day 2 at 10:00, the last on day 19 at 22:00.
    pub(crate) fn creep_pages() -> Vec<i64> {
        (0..8)
            .map(|k| START + 2 * DAY + 10 * H + k * (5 * DAY / 2))
            .collect()
    }

    fn probability(out: &PipelineOutput, slo: &str, hours: f64) -> f64 {
        out.predictions
            .iter()
            .find(|r| r.target == slo && r.kind == "page" && r.horizon_hours == hours)
            .and_then(|r| r.probability)
            .unwrap_or_else(|| panic!("no {hours} h page row for {slo}: {:?}", out.notes))
    }

    #[test]
    fn the_page_warning_comes_at_the_threshold_the_model_learned_unless_one_is_configured() {
        // now = day 21 00:00, five hours into the precursor of a page at 01:00.
        let inputs = fleet_inputs(21, &creep_pages(), Some(START + 21 * DAY + H));
        let six_hours = PipelineConfig {
            page_warning_horizon_secs: 6 * H,
            ..PipelineConfig::default()
        };
        let out = run(&inputs, &six_hours, &mut |_, _, _| {});
        let model = out
            .classifier
            .as_ref()
            .and_then(|c| c.model(6 * H))
            .expect("6 h model");
        let learned = model.warning_threshold.expect("eight pages to learn from");
        assert!(learned > 0.0 && learned < 1.0, "{learned}");
        assert_eq!(
            out.cards[0].metrics.get("learned_threshold_6h"),
            Some(&learned)
        );
        assert_eq!(out.cards[0].metrics.get("threshold"), None);
        // Creep is above the learned threshold; the others have never paged and get no
        // probability at all.
        let creep = probability(&out, "creep", 6.0);
        assert!(creep >= learned, "creep {creep}, learned {learned}");
        let pages: Vec<&PredictiveWarning> = out
            .warnings
            .iter()
            .filter(|w| w.kind == "page_probability")
            .collect();
        assert_eq!(pages.len(), 1, "{pages:?}");
        assert_eq!(pages[0].value, creep);
        assert_eq!(
            pages[0].summary,
            format!(
                "creep: {:.0} % probability that a page starts within 6 h (warns from {:.0} %)",
                100.0 * creep,
                100.0 * learned
            )
        );

        // A configured probability replaces the learned one.
        let fixed = |p: f64| {
            let config = PipelineConfig {
                page_warning_probability: Some(p),
                ..six_hours.clone()
            };
            let out = run(&inputs, &config, &mut |_, _, _| {});
            assert_eq!(out.cards[0].metrics.get("threshold"), Some(&p));
            out.warnings
                .iter()
                .filter(|w| w.kind == "page_probability")
                .count()
        };
        assert_eq!(fixed(creep), 1);
        assert_eq!(fixed(creep.next_up()), 0);
    }

    #[test]
    fn at_48_h_the_precursor_rule_warns_instead_of_a_learned_probability() {
        let inputs = fleet_inputs(21, &creep_pages(), None);
        let now = inputs.now;
        // No service rows: every rate-limited hour is 0 and nothing warns at 48 h, neither
        // the rule nor a learned probability (the rule replaces it).
        let out = run(&inputs, &PipelineConfig::default(), &mut |_, _, _| {});
        assert!(
            out.warnings.iter().all(|w| w.kind == "budget_exhaustion"),
            "{:?}",
            out.warnings
        );

        // Hand-set hours at now: quiet 5 (warns), burning 3.9 (below the level of 4).
        let mut fleet = crate::predict::features::build_features(&inputs);
        for (slo, hours) in [(1, 5.0), (2, 3.9)] {
            let row = fleet[slo].rows.last_mut().expect("rows");
            assert_eq!(row.time, now);
            row.rate_limited_hours_24h = hours;
        }
        let warnings = |config: &PipelineConfig| {
            let mut out = PipelineOutput::empty("v");
            out.predictions.push(PredictionRow {
                time: now,
                target: "quiet".into(),
                kind: "page".into(),
                horizon_hours: 48.0,
                for_time: now + 48 * H,
                forecast: None,
                lower: None,
                upper: None,
                probability: Some(0.25),
                exhausts_at: None,
                model: CLASSIFIER_MODEL.into(),
                model_version: "v".into(),
            });
            precursor_warnings(now, &fleet, config, &mut out);
            (out.warnings, out.notes)
        };
        let (found, notes) = warnings(&PipelineConfig::default());
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(
            found,
            [PredictiveWarning {
                target: "quiet".into(),
                kind: "rate_limit_precursor".into(),
                summary: "quiet: rate limiting spread over 5.0 of the last 24 hours, weighted \
                          by how closely its errors follow it (warns from 4): a quota may run \
                          out within 48 h; 25 % probability that a page starts within 48 h"
                    .into(),
                value: 5.0,
                horizon_hours: 48.0,
                exhausts_at: None,
            }]
        );

        // A configured probability, a level of 0 or an hour-scale alerting horizon: no rule.
        for config in [
            PipelineConfig {
                page_warning_probability: Some(0.5),
                ..PipelineConfig::default()
            },
            PipelineConfig {
                precursor_level: Some(0.0),
                ..PipelineConfig::default()
            },
            PipelineConfig {
                page_warning_horizon_secs: 6 * H,
                ..PipelineConfig::default()
            },
        ] {
            assert_eq!(warnings(&config).0, [], "{config:?}");
        }
        // 21 days of rows are less than 30: silent, and a note per SLO says why.
        let mut long = PipelineConfig::default();
        long.train.min_days = 30.0;
        let (found, notes) = warnings(&long);
        assert_eq!(found, []);
        assert_eq!(notes.len(), 3);
        assert_eq!(
            notes[1],
            "quiet: less than 30 days of history; no rate-limit precursor warning until there is"
        );
    }

    #[test]
    fn slo_inside_a_precursor_gets_the_highest_page_probability_and_budget_warning_follows_arithmetic()
     {
        // now = day 21 00:00; the next page would start at 03:00, so now is 3 h into its 6 h
        // precursor (burn_1h 0.3 + 4.7 * 3 / 6 = 2.65 and rising).
        let inputs = fleet_inputs(21, &creep_pages(), Some(START + 21 * DAY + 3 * H));
        let mut stages = Vec::new();
        let out = run(
            &inputs,
            &PipelineConfig::default(),
            &mut |s, done, total| stages.push((s, done, total)),
        );

        let creep = probability(&out, "creep", 6.0);
        // quiet and burning never paged, so the job gives them no 6 h page probability (a
        // test below checks the notes); the model still ranks them below creep.
        let model = out
            .classifier
            .as_ref()
            .and_then(|c| c.model(6 * H))
            .expect("6 h model");
        let fleet = crate::predict::features::build_features(&inputs);
        let unpublished = |name: &str| {
            let slo = fleet.iter().find(|f| f.slo == name).expect("slo");
            model.probability(slo.row_now(inputs.now).expect("row now"))
        };
        let (quiet, burning) = (unpublished("quiet"), unpublished("burning"));
        assert!(
            creep > quiet && creep > burning,
            "creep {creep}, quiet {quiet}, burning {burning}"
        );
        eprintln!("6 h page probability: creep {creep}, quiet {quiet}, burning {burning}");
        assert!(creep > 10.0 * quiet.max(burning), "creep {creep}");
        assert!(
            out.warnings
                .iter()
                .filter(|w| w.kind == "page_probability")
                .all(|w| w.target == "creep")
        );

        // burning: error ratio 3 * (1 - 0.99) = 0.03 every hour; each hour spends
        // 0.03 / (0.01 * 720) = 1/240 of the budget, so 0.15 lasts 0.15 * 240 = 36 h < 48 h.
        let warning = out
            .warnings
            .iter()
            .find(|w| w.kind == "budget_exhaustion")
            .expect("budget warning");
        assert_eq!(warning.target, "burning");
        assert!((warning.value - 36.0).abs() < 0.01, "{warning:?}");
        assert_eq!(warning.exhausts_at, Some(inputs.now + 36 * H));
        assert_eq!(
            warning.summary,
            "error budget of burning forecast to run out in 36 h"
        );
        assert_eq!(
            out.warnings
                .iter()
                .filter(|w| w.kind == "budget_exhaustion")
                .count(),
            1
        );

        // Budget rows at 1, 6, 12, 24, 48 h: 0.15 - k / 240 (1 h: 0.145833…).
        let budget: Vec<&PredictionRow> = out
            .predictions
            .iter()
            .filter(|r| r.target == "burning" && r.kind == "budget")
            .collect();
        assert_eq!(budget.len(), 5);
        assert!((budget[0].forecast.unwrap_or(f64::NAN) - (0.15 - 1.0 / 240.0)).abs() < 1e-6);
        assert_eq!(budget[4].for_time, inputs.now + 48 * H);
        // SLI = 1 - 0.03.
        let sli = out
            .predictions
            .iter()
            .find(|r| r.target == "burning" && r.kind == "sli")
            .and_then(|r| r.forecast);
        assert!(sli.is_some_and(|s| (s - 0.97).abs() < 1e-6), "{sli:?}");

        // Page rows at 1, 6, 48 h for creep, the only SLO that paged, and at 48 h for quiet
        // and burning; series rows at five horizons. now = 19_021 days after the epoch =
        // 2022-01-29 00:00 UTC.
        let pages: Vec<(&str, f64)> = out
            .predictions
            .iter()
            .filter(|r| r.kind == "page")
            .map(|r| (r.target.as_str(), r.horizon_hours))
            .collect();
        assert_eq!(
            pages,
            [
                ("creep", 1.0),
                ("creep", 6.0),
                ("creep", 48.0),
                ("quiet", 48.0),
                ("burning", 48.0)
            ]
        );
        assert_eq!(
            out.predictions
                .iter()
                .filter(|r| r.kind == "series")
                .count(),
            5
        );
        assert!(
            out.predictions
                .iter()
                .all(|r| r.time == inputs.now && r.model_version == "20220129T0000Z")
        );

        // Cards: classifier with held-out figures, error-ratio and series forecasts.
        let kinds: Vec<&str> = out.cards.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(
            kinds,
            vec!["burn_classifier", "error_ratio_forecast", "series_forecast"]
        );
        // Held out: the last 3 days (days 18, 19, 20), which hold the page of day 19.
        let metrics = &out.cards[0].metrics;
        assert_eq!(metrics.get("holdout_days"), Some(&3.0), "{metrics:?}");
        assert_eq!(metrics.get("incidents_6h"), Some(&1.0), "{metrics:?}");
        assert!(metrics.contains_key("recall_6h"), "{metrics:?}");
        assert!(stages.contains(&(Stage::Forecasting, 4, 4)));
    }

    #[test]
    fn slos_that_paged_within_a_day_get_no_page_probability_and_those_that_never_did_48_h_only() {
        // now = day 20 00:00, an hour after creep's page of day 19 (22:00–23:00) ended; quiet
        // and burning never paged.
        let inputs = fleet_inputs(20, &creep_pages(), None);
        let out = run(&inputs, &PipelineConfig::default(), &mut |_, _, _| {});
        let page_rows = |slo: &str| {
            out.predictions
                .iter()
                .filter(|r| r.target == slo && r.kind == "page")
                .count()
        };
        assert_eq!(
            (page_rows("creep"), page_rows("quiet"), page_rows("burning")),
            (0, 1, 1)
        );
        assert!(
            out.predictions
                .iter()
                .filter(|r| r.kind == "page")
                .all(|r| r.horizon_hours == 48.0)
        );
        for note in [
            "creep: paged less than 24 h ago; no page-start probability until then",
            "quiet: has not paged in the stored history; no page probability within 6 h until \
             it has",
            "burning: has not paged in the stored history; no page probability within 6 h \
             until it has",
        ] {
            assert!(out.notes.iter().any(|n| n == note), "{:?}", out.notes);
        }
    }

    #[test]
    fn classifier_and_forecasts_survive_a_save_and_load_round_trip() {
        let inputs = fleet_inputs(21, &creep_pages(), None);
        let out = run(&inputs, &PipelineConfig::default(), &mut |_, _, _| {});
        let classifier = out.classifier.clone().expect("trained");
        let dir = std::env::temp_dir().join(format!("pipeline-card-{}", std::process::id()));
        crate::predict::card::save(&dir, &out.cards[0], &classifier).expect("saved");
        let loaded = crate::predict::card::load_current::<BurnClassifier>(&dir)
            .expect("loads")
            .expect("present");
        assert_eq!(loaded.model, classifier);
        assert_eq!(loaded.card.version, out.model_version);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn too_little_history_gives_insufficient_history_notes_and_no_page_rows() {
        let inputs = fleet_inputs(3, &[START + DAY + 10 * H], None);
        let out = run(&inputs, &PipelineConfig::default(), &mut |_, _, _| {});
        assert!(out.predictions.iter().all(|r| r.kind != "page"));
        let messages: Vec<&String> = out
            .notes
            .iter()
            .filter(|n| n.starts_with("insufficient history for the"))
            .collect();
        assert_eq!(messages.len(), 3, "{:?}", out.notes);
        assert!(
            messages[0].contains("at least 7.0 are needed"),
            "{}",
            messages[0]
        );
        assert!(out.cards.iter().all(|c| c.kind != "burn_classifier"));
        // Forecasts still run on three days.
        assert!(out.predictions.iter().any(|r| r.kind == "sli"));
    }

    #[test]
    fn pooled_training_keeps_slos_apart_and_reports_real_training_range() {
        let fleet =
            crate::predict::features::build_features(&fleet_inputs(21, &creep_pages(), None));
        let now = START + 21 * DAY;
        let classifier = train_pooled(&fleet, now, &TrainConfig::default()).expect("trains");
        let model = classifier.model(6 * H).expect("6 h model");
        // Rows start at START; the last labelled row is at now - 6 h.
        assert_eq!((model.train_start, model.train_end), (START, now - 6 * H));
        // Only the creep SLO's eight pages exist; none leak into another SLO's labels.
        assert_eq!(model.page_events, 8);
    }
}
