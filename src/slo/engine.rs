//! SLOs evaluated over the store: per-minute rollups computed by the query engine, fed to
//! one [`BudgetTracker`] per SLO objective, and read out as `slo_status` rows.
//!
//! The first [`SloEngine::step`] rolls up everything the trackers keep (the SLO period
//! plus the longest alert window); later steps roll up only the minutes since the last
//! step plus [`LATE_MINUTES`] before it, so telemetry that arrives a little late is still
//! counted and a 30-day window never rescans raw telemetry. Rollups are recomputable: a
//! restart rebuilds them from the stored telemetry.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, RecordBatch, StringBuilder,
    TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, TimeUnit};

use super::budget::{BudgetTracker, Counts, EvalPoint, Evaluation, Incident, incidents};
use super::source::{MetricSource, batched_rollup_sql};
use super::spec::{Catalog, RatioMetric, Slo};
use crate::query::{QueryEngine, QueryError};
use crate::store::Table;
use crate::store::schema::SLO_BURN_WINDOWS;
use tracing::warn;

/// Minutes before the last step that every step rolls up again, for late telemetry.
pub const LATE_MINUTES: i64 = 5;

const MINUTE: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum SloError {
    #[error("SLO {slo}: rollup query failed: {source}")]
    Rollup { slo: String, source: QueryError },
    #[error("SLO {slo}: rollup query returned {what}")]
    Shape { slo: String, what: String },
}

/// An incident of one SLO objective.
#[derive(Debug, Clone)]
pub struct SloIncident {
    pub slo: String,
    pub objective: Option<String>,
    pub service: Option<String>,
    pub incident: Incident,
}

/// One SLO objective and its rollups.
#[derive(Debug)]
struct Tracked {
    slo: Slo,
    objective: usize,
    tracker: BudgetTracker,
}

/// Every loaded SLO, evaluated against one query engine.
#[derive(Debug)]
pub struct SloEngine {
    query: QueryEngine,
    tracked: Vec<Tracked>,
    /// The exclusive end (a minute boundary) of the last rollup.
    rolled_up_to: Option<i64>,
}

/// The SLOs shipped in `pipelines/slo/`, built into the binary.
pub const BUILT_IN_PACKS: [(&str, &str); 4] = [
    (
        "pipelines/slo/default.yaml",
        include_str!("../../pipelines/slo/default.yaml"),
    ),
    (
        "pipelines/slo/claude-code.yaml",
        include_str!("../../pipelines/slo/claude-code.yaml"),
    ),
    (
        "pipelines/slo/codex.yaml",
        include_str!("../../pipelines/slo/codex.yaml"),
    ),
    (
        "pipelines/slo/gemini-cli.yaml",
        include_str!("../../pipelines/slo/gemini-cli.yaml"),
    ),
];

/// The built-in packs, then the SLOs under `dirs`; an SLO in a directory replaces a
/// built-in one of the same name.
pub fn load_catalog(
    built_in: bool,
    dirs: &[std::path::PathBuf],
) -> Result<Catalog, super::spec::SpecErrors> {
    let mut catalog = Catalog::default();
    if built_in {
        for (name, text) in BUILT_IN_PACKS {
            let pack = super::spec::load_str(text, std::path::Path::new(name))?;
            catalog.slos.extend(pack.slos);
            catalog.slis.extend(pack.slis);
            catalog.warnings.extend(pack.warnings);
        }
    }
    if !dirs.is_empty() {
        let user = super::spec::load_paths(dirs)?;
        catalog
            .slos
            .retain(|s| !user.slos.iter().any(|u| u.name == s.name));
        catalog.slos.extend(user.slos);
        catalog.slis.extend(user.slis);
        catalog.warnings.extend(user.warnings);
    }
    Ok(catalog)
}

fn floor_minute(t: i64) -> i64 {
    t.div_euclid(MINUTE) * MINUTE
}

impl SloEngine {
    /// One tracker per objective of every SLO in `catalog`.
    pub fn new(query: QueryEngine, catalog: &Catalog) -> SloEngine {
        let mut tracked = Vec::new();
        for slo in &catalog.slos {
            for objective in 0..slo.objectives.len() {
                if let Some(config) = slo.tracker_config(objective) {
                    tracked.push(Tracked {
                        slo: slo.clone(),
                        objective,
                        tracker: BudgetTracker::new(config),
                    });
                }
            }
        }
        SloEngine {
            query,
            tracked,
            rolled_up_to: None,
        }
    }

    /// The SLO named `name`.
    pub fn spec(&self, name: &str) -> Option<&super::spec::Slo> {
        self.tracked
            .iter()
            .find(|t| t.slo.name == name)
            .map(|t| &t.slo)
    }

    /// The engine the rollups run on.
    pub fn query(&self) -> &QueryEngine {
        &self.query
    }

    pub fn objectives(&self) -> usize {
        self.tracked.len()
    }

    /// Rolls up the minutes before `now` that are not yet (or only recently) rolled up,
    /// and returns the status of every objective at the last whole minute. An SLO whose
    /// query fails is logged and reported on its older rollups.
    ///
    /// `arrived` is the span of event times of telemetry stored since the last step (see
    /// [`crate::store::Store::take_arrivals`]): minutes that old are rolled up again, so
    /// telemetry that arrives late, or history loaded after the fact, is counted.
    pub async fn step(&mut self, now: i64, arrived: Option<(i64, i64)>) -> RecordBatch {
        let end = floor_minute(now);
        self.catch_up(end, arrived).await;
        self.status(&[end])
    }

    /// The rollups of [`SloEngine::step`] without the evaluation: after it, every minute
    /// before `end` that the trackers keep is rolled up, except for SLOs whose queries
    /// failed; those failures are logged and returned. An `end` inside a minute rolls up
    /// that minute so far; the next call counts it again whole.
    pub async fn catch_up(&mut self, end: i64, arrived: Option<(i64, i64)>) -> Vec<SloError> {
        let start = floor_minute(match self.rolled_up_to {
            Some(done) => {
                let recent = done - LATE_MINUTES * MINUTE;
                let late = arrived.map_or(recent, |(first, _)| floor_minute(first));
                recent.min(late).max(end - self.lookback_secs()).min(end)
            }
            None => end - self.lookback_secs(),
        });
        let failures = self.roll_up(start, end).await;
        for failure in &failures {
            warn!(error = %failure, "SLO not updated");
        }
        self.rolled_up_to = Some(end);
        failures
    }

    /// How far back the trackers keep minutes: the longest SLO period plus alert window.
    fn lookback_secs(&self) -> i64 {
        self.tracked
            .iter()
            .map(|t| t.tracker.config().lookback_secs())
            .max()
            .unwrap_or(0)
    }

    /// Counts every objective's good and total events per minute in `[start, end)`.
    ///
    /// Table sources over the same table are counted by one query (see
    /// [`super::source::batched_rollup_sql`]); when that query fails, each source of the
    /// group is queried alone so the error names its SLO. Query sources run one by one.
    ///
    /// An SLO whose query fails keeps its previous rollups and does not stop the others;
    /// its error is returned among the failures.
    pub async fn roll_up(&mut self, start: i64, end: i64) -> Vec<SloError> {
        let mut failures = Vec::new();
        if start >= end {
            return failures;
        }
        // Every side of every objective: (tracked index, 0 = good or bad side, 1 = total).
        let sides: Vec<(usize, usize, &MetricSource)> = self
            .tracked
            .iter()
            .enumerate()
            .flat_map(|(i, tracked)| {
                let (first, total) = match &tracked.slo.indicator.ratio {
                    RatioMetric::GoodTotal { good, total } => (good, total),
                    RatioMetric::BadTotal { bad, total } => (bad, total),
                };
                [(i, 0, first), (i, 1, total)]
            })
            .collect();
        let mut groups: BTreeMap<(Table, &str), Vec<usize>> = BTreeMap::new();
        let mut alone = Vec::new();
        for (n, (_, _, source)) in sides.iter().enumerate() {
            match source {
                MetricSource::Table {
                    table, time_column, ..
                } => groups.entry((*table, time_column)).or_default().push(n),
                MetricSource::Query { .. } => alone.push(n),
            }
        }
        let mut counts: Vec<BTreeMap<i64, u64>> = vec![BTreeMap::new(); sides.len()];
        for ((table, time_column), members) in groups {
            let batched: Vec<(&str, Option<&str>)> = members
                .iter()
                .filter_map(|&n| match sides[n].2 {
                    MetricSource::Table { filter, value, .. } => {
                        Some((filter.as_str(), value.as_deref()))
                    }
                    MetricSource::Query { .. } => None,
                })
                .collect();
            let sql = batched_rollup_sql(table, time_column, &batched, start, end);
            match self.query.sql(&sql).await {
                Ok(result) => {
                    let name = |k: usize| self.tracked[sides[members[k]].0].slo.name.clone();
                    match minute_columns(&result.batches, members.len(), name) {
                        Ok(found) => {
                            for (k, found) in found.into_iter().enumerate() {
                                counts[members[k]] = found;
                            }
                        }
                        Err(_) => alone.extend(members),
                    }
                }
                Err(_) => alone.extend(members),
            }
        }
        let mut failed = vec![false; self.tracked.len()];
        for n in alone {
            let (i, _, source) = sides[n];
            if failed[i] {
                continue;
            }
            match minute_counts(&self.query, &self.tracked[i].slo.name, source, start, end).await {
                Ok(found) => counts[n] = found,
                Err(e) => {
                    failed[i] = true;
                    failures.push(e);
                }
            }
        }
        for (i, tracked) in self.tracked.iter_mut().enumerate() {
            if failed[i] {
                continue;
            }
            let (side, total) = (&counts[2 * i], &counts[2 * i + 1]);
            let good_side = matches!(tracked.slo.indicator.ratio, RatioMetric::GoodTotal { .. });
            let minutes: std::collections::BTreeSet<i64> =
                side.keys().chain(total.keys()).copied().collect();
            for minute in minutes {
                let n = side.get(&minute).copied().unwrap_or(0);
                let all = total.get(&minute).copied().unwrap_or(0);
                // A side can count an event the total misses only through an inconsistent
                // spec; clamp rather than report a ratio above 1.
                let n = n.min(all);
                let counts = if good_side {
                    Counts::new(n, all)
                } else {
                    Counts::from_bad(n, all)
                };
                // Minutes too old for the tracker are simply not kept.
                let _ = tracked.tracker.record_minute(minute, counts);
            }
        }
        failures
    }

    /// The incidents (contiguous firing runs) of every objective between `start` and `end`
    /// (minute boundaries), from one evaluation per minute over the rolled-up minutes.
    pub fn incidents(&self, start: i64, end: i64) -> Vec<SloIncident> {
        let (start, end) = (floor_minute(start), floor_minute(end));
        let mut found = Vec::new();
        for tracked in &self.tracked {
            let points: Vec<EvalPoint> = (start / MINUTE..=end / MINUTE)
                .map(|m| m * MINUTE)
                .map(|at| EvalPoint {
                    at,
                    firing: tracked.tracker.evaluate(at).and_then(|e| e.firing()),
                })
                .collect();
            let lead = tracked
                .tracker
                .config()
                .conditions
                .iter()
                .map(|c| c.short_secs)
                .min()
                .unwrap_or(0);
            for incident in incidents(&points, &tracked.tracker, lead) {
                found.push(SloIncident {
                    slo: tracked.slo.name.clone(),
                    objective: tracked.slo.objectives[tracked.objective]
                        .display_name
                        .clone(),
                    service: tracked.slo.service.clone(),
                    incident,
                });
            }
        }
        found.sort_by_key(|i| i.incident.start);
        found
    }

    /// The alert signal of every objective with a burn-rate condition firing at `at`.
    pub fn burn_signals(&self, at: i64) -> Vec<crate::alert::Signal> {
        self.tracked
            .iter()
            .filter_map(|t| {
                let evaluation = t.tracker.evaluate(at)?;
                super::alerting::burn_signal(&t.slo, t.objective, &evaluation)
            })
            .collect()
    }

    /// Each SLO's minute series in `[from, to)` (minute starts): `<slo>:events`, the
    /// events of every minute, and `<slo>:error_ratio`, bad ÷ total of minutes with events.
    pub fn minute_points(&self, from: i64, to: i64) -> Vec<crate::models::live::SeriesPoint> {
        use crate::models::live::SeriesPoint;
        let mut points = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for tracked in &self.tracked {
            // Objectives of one SLO share its indicator: one series per SLO.
            if !seen.insert(tracked.slo.name.as_str()) {
                continue;
            }
            for minute in
                (floor_minute(from) / MINUTE..floor_minute(to) / MINUTE).map(|m| m * MINUTE)
            {
                let counts = tracked.tracker.events(minute, minute + MINUTE);
                points.push(SeriesPoint {
                    series: format!("{}:events", tracked.slo.name),
                    minute,
                    value: counts.total as f64,
                });
                if counts.total > 0 {
                    points.push(SeriesPoint {
                        series: format!("{}:error_ratio", tracked.slo.name),
                        minute,
                        value: (counts.total - counts.good) as f64 / counts.total as f64,
                    });
                }
            }
        }
        points
    }

    /// The SLOs with a burn-rate condition firing at `at`.
    pub fn burning(&self, at: i64) -> std::collections::BTreeSet<String> {
        self.tracked
            .iter()
            .filter(|t| t.tracker.evaluate(at).and_then(|e| e.firing()).is_some())
            .map(|t| t.slo.name.clone())
            .collect()
    }

    /// Every objective's figures at `at`, for `/metrics`.
    pub fn figures(&self, at: i64) -> Vec<crate::metrics::SloFigures> {
        self.tracked
            .iter()
            .filter_map(|t| {
                let evaluation = t.tracker.evaluate(at)?;
                let period_label = match &t.slo.window {
                    super::window::TimeWindow::Rolling { duration, .. } => duration.to_string(),
                    super::window::TimeWindow::Calendar(_) => {
                        super::window::format_secs(evaluation.period.len_secs())
                    }
                };
                let mut slo = t.slo.name.clone();
                if t.slo.objectives.len() > 1 {
                    let objective = &t.slo.objectives[t.objective];
                    slo = format!(
                        "{slo}-{}",
                        objective
                            .display_name
                            .clone()
                            .unwrap_or_else(|| t.objective.to_string())
                    );
                }
                let error_ratios = evaluation
                    .windows
                    .iter()
                    .map(|w| {
                        let label = if w.label == "period" {
                            period_label.clone()
                        } else {
                            w.label.clone()
                        };
                        (label, w.error_ratio)
                    })
                    .collect();
                Some(crate::metrics::SloFigures {
                    service: t.slo.service.clone().unwrap_or_else(|| t.slo.name.clone()),
                    slo,
                    objective: evaluation.objective,
                    period_days: evaluation.period.len_secs() as f64 / 86_400.0,
                    period_label,
                    error_ratios,
                    current_burn: evaluation.window("5m").and_then(|w| w.burn_rate),
                    period_burn: evaluation.window("period").and_then(|w| w.burn_rate),
                })
            })
            .collect()
    }

    /// `slo_status` rows: one per objective and evaluation instant in `at`.
    pub fn status(&self, at: &[i64]) -> RecordBatch {
        let mut rows = StatusBuilder::default();
        for &end in at {
            for tracked in &self.tracked {
                let evaluation = tracked.tracker.evaluate(end);
                rows.push(end, tracked, evaluation.as_ref());
            }
        }
        rows.finish()
    }
}

/// Runs one side's rollup query: events per minute.
async fn minute_counts(
    query: &QueryEngine,
    slo: &str,
    source: &MetricSource,
    start: i64,
    end: i64,
) -> Result<BTreeMap<i64, u64>, SloError> {
    let result = query
        .sql(&source.rollup_sql(start, end))
        .await
        .map_err(|source| SloError::Rollup {
            slo: slo.to_owned(),
            source,
        })?;
    let mut found = minute_columns(&result.batches, 1, |_| slo.to_owned())?;
    Ok(found.pop().unwrap_or_default())
}

/// Reads rollup rows: a minute column, then `n` count columns; returns per column the
/// events per minute. `slo` names the SLO of column `k` for errors.
fn minute_columns(
    batches: &[RecordBatch],
    n: usize,
    slo: impl Fn(usize) -> String,
) -> Result<Vec<BTreeMap<i64, u64>>, SloError> {
    let shape = |k: usize, what: String| SloError::Shape { slo: slo(k), what };
    let mut found = vec![BTreeMap::new(); n];
    for batch in batches {
        if batch.num_columns() < n + 1 {
            return Err(shape(
                0,
                format!("{} columns, not {}", batch.num_columns(), n + 1),
            ));
        }
        let minutes = arrow::compute::cast(
            batch.column(0),
            &DataType::Timestamp(TimeUnit::Second, None),
        )
        .map_err(|e| shape(0, format!("a minute column that is not a timestamp ({e})")))?;
        let minutes = minutes.as_primitive::<arrow::datatypes::TimestampSecondType>();
        for (k, counts) in found.iter_mut().enumerate() {
            let column = arrow::compute::cast(batch.column(k + 1), &DataType::Int64)
                .map_err(|e| shape(k, format!("a count that is not a number ({e})")))?;
            let column = column.as_primitive::<arrow::datatypes::Int64Type>();
            for row in 0..batch.num_rows() {
                if minutes.is_null(row) || column.is_null(row) || column.value(row) <= 0 {
                    continue;
                }
                *counts.entry(floor_minute(minutes.value(row))).or_insert(0) +=
                    column.value(row) as u64;
            }
        }
    }
    Ok(found)
}

#[derive(Default)]
struct StatusBuilder {
    time: TimestampNanosecondBuilder,
    slo: StringBuilder,
    objective: StringBuilder,
    service: StringBuilder,
    target: Float64Builder,
    good: UInt64Builder,
    total: UInt64Builder,
    sli: Float64Builder,
    error_ratio: Float64Builder,
    budget_remaining: Float64Builder,
    consumed_24h: Float64Builder,
    consumption: StringBuilder,
    policy: StringBuilder,
    burns: [Float64Builder; 8],
    firing: StringBuilder,
    runbook: StringBuilder,
}

impl StatusBuilder {
    fn push(&mut self, end: i64, tracked: &Tracked, evaluation: Option<&Evaluation>) {
        let slo = &tracked.slo;
        let objective = &slo.objectives[tracked.objective];
        self.time.append_value(end * 1_000_000_000);
        self.slo.append_value(&slo.name);
        self.objective
            .append_option(objective.display_name.as_deref());
        self.service.append_option(slo.service.as_deref());
        self.target.append_value(objective.target);
        self.runbook.append_option(slo.runbook_url.as_deref());
        let period = evaluation.and_then(|e| e.window("period"));
        let counts = period.map(|w| w.counts).unwrap_or(Counts::new(0, 0));
        self.good.append_value(counts.good);
        self.total.append_value(counts.total);
        self.sli.append_option(period.and_then(|w| w.sli));
        self.error_ratio
            .append_option(period.and_then(|w| w.error_ratio));
        self.budget_remaining
            .append_option(evaluation.and_then(|e| e.budget_remaining));
        self.consumed_24h
            .append_option(evaluation.and_then(|e| e.consumed_24h));
        self.consumption.append_option(
            evaluation
                .and_then(|e| e.consumption)
                .map(|c| format!("{c:?}").to_lowercase()),
        );
        let policy = evaluation
            .map(|e| e.policy)
            .unwrap_or(super::budget::PolicyState::NoData);
        self.policy.append_value(policy_name(policy));
        for (builder, label) in self
            .burns
            .iter_mut()
            .zip(SLO_BURN_WINDOWS.iter().copied().chain(["period"]))
        {
            builder.append_option(
                evaluation
                    .and_then(|e| e.window(label))
                    .and_then(|w| w.burn_rate),
            );
        }
        self.firing
            .append_option(evaluation.and_then(|e| e.firing()).map(|s| s.name()));
    }

    fn finish(mut self) -> RecordBatch {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish().with_timezone("UTC")),
            Arc::new(self.slo.finish()),
            Arc::new(self.objective.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.target.finish()),
            Arc::new(self.good.finish()),
            Arc::new(self.total.finish()),
            Arc::new(self.sli.finish()),
            Arc::new(self.error_ratio.finish()),
            Arc::new(self.budget_remaining.finish()),
            Arc::new(self.consumed_24h.finish()),
            Arc::new(self.consumption.finish()),
            Arc::new(self.policy.finish()),
        ];
        for builder in &mut self.burns {
            columns.push(Arc::new(builder.finish()));
        }
        columns.push(Arc::new(self.firing.finish()));
        columns.push(Arc::new(self.runbook.finish()));
        // The builders above follow the slo_status schema column for column.
        RecordBatch::try_new(Table::SloStatus.schema(), columns)
            .unwrap_or_else(|e| panic!("slo_status rows do not match their schema: {e}"))
    }
}

pub(crate) fn policy_name(policy: super::budget::PolicyState) -> &'static str {
    use super::budget::PolicyState;
    match policy {
        PolicyState::Healthy => "healthy",
        PolicyState::Warning => "warning",
        PolicyState::Critical => "critical",
        PolicyState::NoData => "no data",
    }
}

/// Incidents as a table: one row per incident, oldest first.
pub fn incidents_batch(found: &[SloIncident]) -> RecordBatch {
    use arrow::array::{BooleanArray, Float64Array, StringArray, TimestampSecondArray};
    use arrow::datatypes::{Field, Schema};
    let utc = DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("slo", DataType::Utf8, false),
        Field::new("objective", DataType::Utf8, true),
        Field::new("service", DataType::Utf8, true),
        Field::new("start", utc.clone(), false),
        Field::new("end", utc, false),
        Field::new("ongoing", DataType::Boolean, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("budget_consumed", DataType::Float64, true),
        Field::new("postmortem_required", DataType::Boolean, false),
    ]));
    let text = |f: &dyn Fn(&SloIncident) -> Option<&str>| -> ArrayRef {
        Arc::new(found.iter().map(f).collect::<StringArray>())
    };
    let times = |f: &dyn Fn(&Incident) -> i64| -> ArrayRef {
        Arc::new(
            TimestampSecondArray::from(found.iter().map(|i| f(&i.incident)).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|i| Some(&i.slo)),
        text(&|i| i.objective.as_deref()),
        text(&|i| i.service.as_deref()),
        times(&|i| i.start),
        times(&|i| i.end),
        Arc::new(
            found
                .iter()
                .map(|i| Some(i.incident.open))
                .collect::<BooleanArray>(),
        ),
        text(&|i| Some(i.incident.severity.name())),
        Arc::new(
            found
                .iter()
                .map(|i| i.incident.budget_consumed)
                .collect::<Float64Array>(),
        ),
        Arc::new(
            found
                .iter()
                .map(|i| Some(i.incident.postmortem_required))
                .collect::<BooleanArray>(),
        ),
    ];
    RecordBatch::try_new(schema, columns)
        .unwrap_or_else(|e| panic!("incident rows do not match their schema: {e}"))
}
