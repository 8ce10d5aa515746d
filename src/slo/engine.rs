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
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::budget::{BudgetTracker, Counts, Evaluation};
use super::source::MetricSource;
use super::spec::{Catalog, RatioMetric, Slo};
use crate::query::{QueryEngine, QueryError};

/// Minutes before the last step that every step rolls up again, for late telemetry.
pub const LATE_MINUTES: i64 = 5;

const MINUTE: i64 = 60;

/// The burn-rate windows `slo_status` has a column for, besides the SLO period.
const BURN_COLUMNS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

#[derive(Debug, thiserror::Error)]
pub enum SloError {
    #[error("SLO {slo}: rollup query failed: {source}")]
    Rollup { slo: String, source: QueryError },
    #[error("SLO {slo}: rollup query returned {what}")]
    Shape { slo: String, what: String },
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

    pub fn objectives(&self) -> usize {
        self.tracked.len()
    }

    /// Rolls up the minutes before `now` that are not yet (or only recently) rolled up,
    /// and returns the status of every objective at the last whole minute.
    ///
    /// `arrived` is the span of event times of telemetry stored since the last step (see
    /// [`crate::store::Store::take_arrivals`]): minutes that old are rolled up again, so
    /// telemetry that arrives late, or history loaded after the fact, is counted.
    pub async fn step(
        &mut self,
        now: i64,
        arrived: Option<(i64, i64)>,
    ) -> Result<RecordBatch, SloError> {
        let end = floor_minute(now);
        let start = match self.rolled_up_to {
            Some(done) => {
                let recent = done - LATE_MINUTES * MINUTE;
                let late = arrived.map_or(recent, |(first, _)| floor_minute(first));
                recent.min(late).max(end - self.lookback_secs()).min(end)
            }
            None => end - self.lookback_secs(),
        };
        self.roll_up(start, end).await?;
        self.rolled_up_to = Some(end);
        Ok(self.status(&[end]))
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
    pub async fn roll_up(&mut self, start: i64, end: i64) -> Result<(), SloError> {
        if start >= end {
            return Ok(());
        }
        for tracked in &mut self.tracked {
            let (first, second) = match &tracked.slo.indicator.ratio {
                RatioMetric::GoodTotal { good, total } => (good, total),
                RatioMetric::BadTotal { bad, total } => (bad, total),
            };
            let name = &tracked.slo.name;
            let side = minute_counts(&self.query, name, first, start, end).await?;
            let total = minute_counts(&self.query, name, second, start, end).await?;
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
        Ok(())
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
    let shape = |what: &str| SloError::Shape {
        slo: slo.to_owned(),
        what: what.to_owned(),
    };
    let mut counts = BTreeMap::new();
    for batch in &result.batches {
        let minutes = arrow::compute::cast(
            batch.column(0),
            &DataType::Timestamp(TimeUnit::Second, None),
        )
        .map_err(|e| shape(&format!("a minute column that is not a timestamp ({e})")))?;
        let minutes = minutes.as_primitive::<arrow::datatypes::TimestampSecondType>();
        let n = arrow::compute::cast(batch.column(1), &DataType::Int64)
            .map_err(|e| shape(&format!("a count that is not a number ({e})")))?;
        let n = n.as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..batch.num_rows() {
            if minutes.is_null(i) || n.is_null(i) {
                continue;
            }
            *counts.entry(floor_minute(minutes.value(i))).or_insert(0) += n.value(i).max(0) as u64;
        }
    }
    Ok(counts)
}

/// The columns of `slo_status`.
pub fn status_schema() -> SchemaRef {
    let utc = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("time", utc, false),
        Field::new("slo", DataType::Utf8, false),
        Field::new("objective", DataType::Utf8, true),
        Field::new("service", DataType::Utf8, true),
        Field::new("target", DataType::Float64, false),
        Field::new("good", DataType::UInt64, false),
        Field::new("total", DataType::UInt64, false),
        Field::new("sli", DataType::Float64, true),
        Field::new("error_ratio", DataType::Float64, true),
        Field::new("budget_remaining", DataType::Float64, true),
        Field::new("consumed_24h", DataType::Float64, true),
        Field::new("consumption", DataType::Utf8, true),
        Field::new("policy", DataType::Utf8, false),
    ];
    for window in BURN_COLUMNS {
        fields.push(Field::new(
            format!("burn_{window}"),
            DataType::Float64,
            true,
        ));
    }
    fields.push(Field::new("burn_period", DataType::Float64, true));
    fields.push(Field::new("firing", DataType::Utf8, true));
    fields.push(Field::new("runbook_url", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
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
            .zip(BURN_COLUMNS.iter().copied().chain(["period"]))
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
        // The builders above follow status_schema() column for column.
        RecordBatch::try_new(status_schema(), columns)
            .unwrap_or_else(|e| panic!("slo_status rows do not match their schema: {e}"))
    }
}

fn policy_name(policy: super::budget::PolicyState) -> &'static str {
    use super::budget::PolicyState;
    match policy {
        PolicyState::Healthy => "healthy",
        PolicyState::Warning => "warning",
        PolicyState::Critical => "critical",
        PolicyState::NoData => "no data",
    }
}

/// The `slo_status` table: the rows of recent evaluations, newest last, held in memory
/// up to a row limit (older rows are recomputed by a backfill, not kept).
#[derive(Debug)]
pub struct StatusLog {
    batches: std::sync::RwLock<std::collections::VecDeque<RecordBatch>>,
    max_rows: usize,
}

impl StatusLog {
    pub fn new(max_rows: usize) -> Arc<StatusLog> {
        Arc::new(StatusLog {
            batches: std::sync::RwLock::new(std::collections::VecDeque::new()),
            max_rows,
        })
    }

    /// Appends rows, dropping the oldest batches beyond the row limit.
    pub fn push(&self, batch: RecordBatch) {
        if batch.num_rows() == 0 {
            return;
        }
        let mut batches = self.batches.write().unwrap_or_else(|e| e.into_inner());
        batches.push_back(batch);
        let mut rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        while rows > self.max_rows && batches.len() > 1 {
            if let Some(old) = batches.pop_front() {
                rows -= old.num_rows();
            }
        }
    }

    fn snapshot(&self) -> Vec<RecordBatch> {
        let batches = self.batches.read().unwrap_or_else(|e| e.into_inner());
        batches.iter().cloned().collect()
    }
}

#[async_trait::async_trait]
impl datafusion::datasource::TableProvider for StatusLog {
    fn schema(&self) -> SchemaRef {
        status_schema()
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        datafusion::datasource::TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[datafusion::logical_expr::Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let table =
            datafusion::datasource::MemTable::try_new(status_schema(), vec![self.snapshot()])?;
        table.scan(state, projection, filters, limit).await
    }
}
