//! The prediction job on Vigil's tables: SQL in, `predictions` rows, model files and
//! predictive alerts out. `vigil predict` runs it once; `vigil serve` runs it on the
//! `[predict] schedule`.
//!
//! ```text
//!  slo_status (every 5th minute) ─┐
//!  anomalies ─────────────────────┤
//!  logs: model API calls per      ├─► gather ─► PipelineInputs ─► pipeline::run
//!    service and hour (failures   │                                   │
//!    by cause, p95, versions)     │          ┌────────────────────────┘
//!  metrics/spans: tokens, cost,   │          ├─► predictions table (one version per run)
//!    CI duration per hour ────────┘          ├─► <data>/_models/predict/<kind>/<version>/
//!                                            │     model.json + card.json, `current` last
//!                                            └─► warnings ─► alerts (type=predictive)
//! ```
//!
//! Models are written only after the run succeeded, each atomically with its `current`
//! pointer switched last, so a failed or interrupted run leaves the previous models in use.
//! When this run cannot train the page classifier (too little history) but an earlier run
//! did, the earlier classifier gives the page probabilities, and its version is on the rows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder,
};
use tokio::sync::watch;
use tracing::{info, warn};

use super::card::{self, CardError};
use super::classify::{BurnClassifier, BurnProbability};
use super::features::build_features;
use super::pipeline::{
    self, AnomalyPoint, PipelineConfig, PipelineInputs, PipelineOutput, PredictionRow,
    PredictiveWarning, SeriesHour, ServiceHour, SloInfo, Stage, StatusPoint,
};
use crate::alert::http::SharedEngine;
use crate::alert::{Severity, Signal};
use crate::config::PredictConfig;
use crate::query::columns::{self, ColumnError};
use crate::query::{QueryEngine, QueryError};
use crate::schedule::Schedule;
use crate::slo::source::timestamp_literal;
use crate::slo::spec::Slo;
use crate::store::{Store, StoreError, Table};

/// The alert engine's name for the prediction job.
pub const SOURCE: &str = "predict";
/// Alert raised when an SLO's error budget is forecast to run out.
pub const BUDGET_ALERT: &str = "SLOBudgetExhaustionPredicted";
/// Alert raised when a page is likely within the warning horizon.
pub const PAGE_ALERT: &str = "SLOPagePredicted";

/// Why a prediction run failed (nothing was written then).
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error("reading {what} failed: {source}")]
    Query {
        what: &'static str,
        #[source]
        source: QueryError,
    },
    #[error("reading {what}: {source}")]
    Column {
        what: &'static str,
        #[source]
        source: ColumnError,
    },
    #[error("cannot write predictions: {0}")]
    Store(#[from] StoreError),
    #[error("cannot save the models: {0}")]
    Card(#[from] CardError),
    #[error("the prediction task failed: {0}")]
    Task(String),
}

/// What one run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub output: PipelineOutput,
    /// The classifier version behind the `page` rows, when there are any.
    pub classifier_version: Option<String>,
    pub status_points: usize,
    pub saved: Vec<PathBuf>,
}

/// Where the job keeps its models under the data directory.
pub fn models_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("_models").join("predict")
}

/// The pipeline's settings from `[predict]`.
pub fn pipeline_config(config: &PredictConfig) -> PipelineConfig {
    PipelineConfig {
        budget_warning_hours: config.budget_warning.0.as_secs_f64() / 3_600.0,
        page_warning_probability: config.page_probability,
        page_warning_horizon_secs: config.page_horizon.0.as_secs() as i64,
        precursor_level: Some(config.precursor_hours),
        ..PipelineConfig::default()
    }
}

/// Reads everything the pipeline needs for `slos` from `history` seconds before `now`.
pub async fn gather(
    query: &QueryEngine,
    slos: &[Slo],
    now: i64,
    history: i64,
) -> Result<PipelineInputs, PredictError> {
    let from = now - history;
    let infos = slos
        .iter()
        .filter_map(|slo| {
            let objective = slo.objectives.first()?;
            Some(SloInfo {
                name: slo.name.clone(),
                service: slo.service.clone(),
                target: objective.target,
                window_secs: slo.window.period_ending_at(now)?.len_secs(),
                page_budget_fraction: objective
                    .conditions
                    .iter()
                    .filter(|c| c.severity == crate::slo::budget::Severity::Page)
                    .map(|c| c.budget_fraction)
                    .reduce(f64::min),
            })
        })
        .collect();
    Ok(PipelineInputs {
        now,
        slos: infos,
        status: status(query, from, now).await?,
        anomalies: anomalies(query, from, now).await?,
        services: services(query, from, now).await?,
        series: series(query, from, now).await?,
    })
}

async fn rows(
    query: &QueryEngine,
    what: &'static str,
    sql: &str,
) -> Result<Vec<RecordBatch>, PredictError> {
    query
        .sql(sql)
        .await
        .map(|r| r.batches)
        .map_err(|source| PredictError::Query { what, source })
}

fn column<T>(what: &'static str, read: Result<T, ColumnError>) -> Result<T, PredictError> {
    read.map_err(|source| PredictError::Column { what, source })
}

fn range(column: &str, from: i64, to: i64) -> String {
    format!(
        "{column} >= {} AND {column} < {}",
        timestamp_literal(from),
        timestamp_literal(to)
    )
}

/// `slo_status` every 5 minutes, and every minute of the last 5 (so the run sees the
/// freshest state); the first objective's row when an SLO has several.
async fn status(query: &QueryEngine, from: i64, to: i64) -> Result<Vec<StatusPoint>, PredictError> {
    const WHAT: &str = "slo_status";
    let sql = format!(
        "SELECT time, slo, budget_remaining, burn_5m, burn_1h, burn_6h, total, firing \
         FROM slo_status WHERE {} \
         AND (date_part('minute', time) % 5 = 0 OR time >= {}) ORDER BY time",
        range("time", from, to + 60),
        timestamp_literal(to - 300)
    );
    let mut seen = BTreeSet::new();
    let mut points = Vec::new();
    for batch in rows(query, WHAT, &sql).await? {
        let time = column(WHAT, columns::seconds(&batch, "time"))?;
        let slo = column(WHAT, columns::strings(&batch, "slo"))?;
        let budget = column(WHAT, columns::floats(&batch, "budget_remaining"))?;
        let burn_5m = column(WHAT, columns::floats(&batch, "burn_5m"))?;
        let burn_1h = column(WHAT, columns::floats(&batch, "burn_1h"))?;
        let burn_6h = column(WHAT, columns::floats(&batch, "burn_6h"))?;
        let total = column(WHAT, columns::ints(&batch, "total"))?;
        let firing = column(WHAT, columns::strings(&batch, "firing"))?;
        for i in 0..batch.num_rows() {
            let (Some(t), Some(name)) = (time[i], slo[i].clone()) else {
                continue;
            };
            if !seen.insert((name.clone(), t)) {
                continue;
            }
            points.push(StatusPoint {
                time: t,
                slo: name,
                budget_remaining: budget[i],
                burn_5m: burn_5m[i],
                burn_1h: burn_1h[i],
                burn_6h: burn_6h[i],
                total: total[i].unwrap_or(0).max(0) as u64,
                firing: firing[i].clone(),
            });
        }
    }
    Ok(points)
}

async fn anomalies(
    query: &QueryEngine,
    from: i64,
    to: i64,
) -> Result<Vec<AnomalyPoint>, PredictError> {
    const WHAT: &str = "anomalies";
    let sql = format!(
        "SELECT time, series, score FROM anomalies WHERE {}",
        range("time", from, to)
    );
    let mut points = Vec::new();
    for batch in rows(query, WHAT, &sql).await? {
        let time = column(WHAT, columns::seconds(&batch, "time"))?;
        let series = column(WHAT, columns::strings(&batch, "series"))?;
        let score = column(WHAT, columns::floats(&batch, "score"))?;
        for i in 0..batch.num_rows() {
            if let (Some(time), Some(series), Some(score)) = (time[i], series[i].clone(), score[i])
            {
                points.push(AnomalyPoint {
                    time,
                    series,
                    score,
                });
            }
        }
    }
    Ok(points)
}

/// A table's model API calls, one row per attempt, and how to read each one's outcome.
struct CallSource {
    what: &'static str,
    table: &'static str,
    time: &'static str,
    /// Which rows are calls.
    calls: &'static str,
    /// Which calls failed.
    failed: &'static str,
    /// The HTTP status of a call, NULL when no response arrived.
    status: &'static str,
    /// Latency of a call in milliseconds.
    duration_ms: &'static str,
    /// The name the SLO packs give the calls' producer (their `spec.service`), grouped
    /// under as well as under `service_name`.
    pack_service: &'static str,
}

/// The coding agents' events, one per attempt: Claude Code's `api_request` / `api_error`,
/// Codex's `codex.api_request` (failed without a 2xx/3xx status) and Gemini CLI's
/// `gemini_cli.api_response` / `gemini_cli.api_error`. Each agent's pack names its service
/// after the agent, whatever `service.name` the agent sends (Codex sends its originator,
/// `codex_cli_rs` by default, and a different one per front end).
const AGENT_CALLS: CallSource = CallSource {
    what: "coding agents' model API calls",
    table: "logs",
    time: "time",
    calls: "event_name IN ('api_request', 'claude_code.api_request', 'api_error', \
            'claude_code.api_error', 'codex.api_request', 'gemini_cli.api_response', \
            'gemini_cli.api_error')",
    failed: "(event_name IN ('api_error', 'claude_code.api_error', 'gemini_cli.api_error') \
             OR (event_name = 'codex.api_request' AND \
                 coalesce(attr_int(attributes, 'http.response.status_code'), 0) \
                   NOT BETWEEN 200 AND 399))",
    status: "coalesce(attr_int(attributes, 'status_code'), \
             attr_int(attributes, 'http.response.status_code'))",
    duration_ms: "attr_float(attributes, 'duration_ms')",
    pack_service: "CASE WHEN event_name LIKE 'codex.%' THEN 'codex' \
                   WHEN event_name LIKE 'gemini_cli.%' THEN 'gemini-cli' \
                   ELSE 'claude-code' END",
};

/// GenAI inference spans (the default pack's model requests): failed when their status is
/// ERROR; the status is `http.response.status_code`, else a numeric `error.type`, and an
/// `overloaded_error` is a 529. The default pack's SLOs cover every service that sends
/// such spans and name their service `genai`.
const GENAI_CALLS: CallSource = CallSource {
    what: "GenAI model API calls",
    table: "spans",
    time: "start_time",
    calls: "attr(attributes, 'gen_ai.operation.name') \
            IN ('chat', 'text_completion', 'generate_content', 'embeddings')",
    failed: "status_code = 'ERROR'",
    status: "coalesce(attr_int(attributes, 'http.response.status_code'), \
             attr_int(attributes, 'error.type'), \
             CASE WHEN attr(attributes, 'error.type') = 'overloaded_error' THEN 529 END)",
    duration_ms: "CAST(duration_ns AS DOUBLE) / 1e6",
    pack_service: "'genai'",
};

/// Model API calls per service and hour, from [`AGENT_CALLS`] then [`GENAI_CALLS`]. Each
/// source's calls are grouped twice: by `service_name`, then by the pack's service name.
/// An hour of a key already filled (by a `service_name`, or by an earlier source) keeps
/// its row.
async fn services(
    query: &QueryEngine,
    from: i64,
    to: i64,
) -> Result<Vec<ServiceHour>, PredictError> {
    let mut hours: BTreeMap<(i64, String), ServiceHour> = BTreeMap::new();
    for source in [AGENT_CALLS, GENAI_CALLS] {
        for key in ["service_name", source.pack_service] {
            for (k, hour) in call_hours(query, &source, key, from, to).await? {
                hours.entry(k).or_insert(hour);
            }
        }
    }
    Ok(hours.into_values().collect())
}

/// `source`'s calls per hour and value of the SQL expression `key` (rows where it is NULL
/// are left out), with the hour's distinct service versions.
async fn call_hours(
    query: &QueryEngine,
    source: &CallSource,
    key: &str,
    from: i64,
    to: i64,
) -> Result<BTreeMap<(i64, String), ServiceHour>, PredictError> {
    let CallSource {
        what,
        table,
        time,
        calls,
        failed,
        status,
        duration_ms,
        ..
    } = source;
    let sql = format!(
        "SELECT date_trunc('hour', {time}) AS hour, {key} AS service, \
           count(*) AS requests, \
           count(*) FILTER (WHERE {failed}) AS failures, \
           count(*) FILTER (WHERE {failed} AND {status} IN (429, 529)) AS rate_limited, \
           count(*) FILTER (WHERE {failed} AND {status} IS NULL) AS timeouts, \
           count(*) FILTER (WHERE {failed} AND {status} >= 500 AND {status} <> 529) \
             AS server_errors, \
           approx_percentile_cont({duration_ms}, 0.95) AS p95 \
         FROM {table} WHERE {} AND {calls} AND {key} IS NOT NULL GROUP BY 1, 2",
        range(time, from, to)
    );
    let mut hours: BTreeMap<(i64, String), ServiceHour> = BTreeMap::new();
    for batch in rows(query, what, &sql).await? {
        let hour = column(what, columns::seconds(&batch, "hour"))?;
        let service = column(what, columns::strings(&batch, "service"))?;
        let count = |name| column(what, columns::ints(&batch, name));
        let (requests, failures) = (count("requests")?, count("failures")?);
        let (limited, timeouts, server) = (
            count("rate_limited")?,
            count("timeouts")?,
            count("server_errors")?,
        );
        let p95 = column(what, columns::floats(&batch, "p95"))?;
        let n = |v: Option<i64>| v.unwrap_or(0).max(0) as u64;
        for i in 0..batch.num_rows() {
            let (Some(h), Some(s)) = (hour[i], service[i].clone()) else {
                continue;
            };
            hours.insert(
                (h, s.clone()),
                ServiceHour {
                    hour: h,
                    service: s,
                    requests: n(requests[i]),
                    failures: n(failures[i]),
                    rate_limited: n(limited[i]),
                    timeouts: n(timeouts[i]),
                    server_errors: n(server[i]),
                    latency_p95_ms: p95[i],
                    versions: Vec::new(),
                },
            );
        }
    }

    const VERSIONS: &str = "service versions";
    let sql = format!(
        "SELECT DISTINCT date_trunc('hour', {time}) AS hour, {key} AS service, \
           concat_ws('/', attr(resource_attributes, 'service.version'), \
                     attr(resource_attributes, 'bot.config.revision')) AS version \
         FROM {table} WHERE {} AND {calls} AND {key} IS NOT NULL",
        range(time, from, to)
    );
    for batch in rows(query, VERSIONS, &sql).await? {
        let hour = column(VERSIONS, columns::seconds(&batch, "hour"))?;
        let service = column(VERSIONS, columns::strings(&batch, "service"))?;
        let version = column(VERSIONS, columns::strings(&batch, "version"))?;
        for i in 0..batch.num_rows() {
            if let (Some(h), Some(s), Some(v)) = (hour[i], service[i].clone(), version[i].clone())
                && !v.is_empty()
                && let Some(slot) = hours.get_mut(&(h, s))
            {
                slot.versions.push(v);
            }
        }
    }
    Ok(hours)
}

/// Capacity-planning series per hour: model API calls per service, Claude Code tokens and
/// cost per bot, mean CI pipeline duration per pipeline.
async fn series(query: &QueryEngine, from: i64, to: i64) -> Result<Vec<SeriesHour>, PredictError> {
    let queries = [
        (
            "requests",
            format!(
                "SELECT date_trunc('hour', time) AS hour, service_name AS key, \
                 CAST(count(*) AS DOUBLE) AS value FROM logs \
                 WHERE {} AND {} AND service_name IS NOT NULL GROUP BY 1, 2",
                range("time", from, to),
                AGENT_CALLS.calls
            ),
        ),
        (
            "tokens",
            per_bot_metric("claude_code.token.usage", from, to),
        ),
        (
            "cost_usd",
            per_bot_metric("claude_code.cost.usage", from, to),
        ),
        (
            "ci_duration_s",
            format!(
                "SELECT date_trunc('hour', start_time) AS hour, \
                 coalesce(attr(attributes, 'cicd.pipeline.name'), '') AS key, \
                 avg(duration_ns / 1e9) AS value FROM spans \
                 WHERE {} AND attr(attributes, 'cicd.pipeline.result') IS NOT NULL \
                 GROUP BY 1, 2",
                range("start_time", from, to)
            ),
        ),
    ];
    let mut out = Vec::new();
    for (name, sql) in queries {
        const WHAT: &str = "capacity series";
        for batch in rows(query, WHAT, &sql).await? {
            let hour = column(WHAT, columns::seconds(&batch, "hour"))?;
            let key = column(WHAT, columns::strings(&batch, "key"))?;
            let value = column(WHAT, columns::floats(&batch, "value"))?;
            for i in 0..batch.num_rows() {
                if let (Some(hour), Some(key), Some(value)) = (hour[i], key[i].clone(), value[i]) {
                    out.push(SeriesHour {
                        hour,
                        series: format!("{name}:{key}"),
                        value,
                    });
                }
            }
        }
    }
    Ok(out)
}

fn per_bot_metric(metric: &str, from: i64, to: i64) -> String {
    format!(
        "SELECT date_trunc('hour', time) AS hour, \
         coalesce(attr(resource_attributes, 'bot.id'), service_name, '') AS key, \
         sum(value) AS value FROM metrics WHERE {} AND metric_name = '{metric}' GROUP BY 1, 2",
        range("time", from, to)
    )
}

/// Runs the whole job once at `now`: gathers, predicts, writes the rows, saves the models.
/// `progress` hears each stage (`gather`, `features`, `training`, `forecasting`, `writing`)
/// with done/total counts.
pub async fn run_once(
    store: &Store,
    query: &QueryEngine,
    slos: &[Slo],
    config: &PredictConfig,
    models: &Path,
    now: i64,
    progress: &mut (dyn FnMut(&str, usize, usize) + Send),
) -> Result<RunReport, PredictError> {
    progress("gather", 0, 1);
    let inputs = gather(query, slos, now, config.history.0.as_secs() as i64).await?;
    progress("gather", 1, 1);
    let status_points = inputs.status.len();
    let pipeline_config = pipeline_config(config);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Stage, usize, usize)>();
    let task = tokio::task::spawn_blocking(move || {
        let mut report = |stage, done, total| {
            let _ = tx.send((stage, done, total));
        };
        let output = pipeline::run(&inputs, &pipeline_config, &mut report);
        (inputs, output)
    });
    while let Some((stage, done, total)) = rx.recv().await {
        let name = match stage {
            Stage::Features => "features",
            Stage::Training => "training",
            Stage::Forecasting => "forecasting",
        };
        progress(name, done, total);
    }
    let (inputs, mut output) = task.await.map_err(|e| PredictError::Task(e.to_string()))?;

    let mut classifier_version = output
        .predictions
        .iter()
        .any(|r| r.kind == "page")
        .then(|| output.model_version.clone());
    if output.classifier.is_none() || !output.predictions.iter().any(|r| r.kind == "page") {
        classifier_version =
            fall_back_to_previous(models, &inputs, &mut output)?.or(classifier_version);
    }

    progress("writing", 0, 2);
    if !output.predictions.is_empty() {
        store
            .append_derived(Table::Predictions, predictions_batch(&output.predictions))
            .await?;
    }
    progress("writing", 1, 2);
    let saved = save_models(models, &output)?;
    progress("writing", 2, 2);
    info!(
        rows = output.predictions.len(),
        warnings = output.warnings.len(),
        notes = output.notes.len(),
        version = %output.model_version,
        "prediction run finished"
    );
    Ok(RunReport {
        output,
        classifier_version,
        status_points,
        saved,
    })
}

/// When this run has no page probabilities but an earlier run saved a classifier, that
/// classifier answers for the SLOs this run's own classifier would
/// ([`pipeline::page_probability_row`]; a note says why for the others, once). Returns its
/// version when it answered, or when this run trained no horizon (it stays the one in use,
/// though no SLO qualifies now). A classifier trained on other features (by an older Vigil)
/// is not used: its coefficients would not line up with today's rows.
fn fall_back_to_previous(
    models: &Path,
    inputs: &PipelineInputs,
    output: &mut PipelineOutput,
) -> Result<Option<String>, PredictError> {
    let Some(previous) =
        card::load_current::<BurnClassifier>(&models.join(pipeline::CLASSIFIER_MODEL))?
    else {
        return Ok(None);
    };
    if previous.card.features != crate::predict::classify::FEATURE_NAMES {
        output.notes.push(format!(
            "the previous classifier {} was trained on other features and is not used",
            previous.card.version
        ));
        return Ok(None);
    }
    let version = previous.card.version.clone();
    let mut used = false;
    // This run's own pass over the SLOs has written most notes already.
    let note_once = |output: &mut PipelineOutput, note: String| {
        if !output.notes.contains(&note) {
            output.notes.push(note);
        }
    };
    for slo in build_features(inputs) {
        let row = match pipeline::page_probability_row(&slo, inputs.now) {
            Ok((row, withheld)) => {
                if let Some(note) = withheld {
                    note_once(output, note);
                }
                row
            }
            Err(note) => {
                note_once(output, note);
                continue;
            }
        };
        for probability in previous.model.predict(row) {
            if let BurnProbability::Probability {
                horizon_secs,
                probability,
            } = probability
                && pipeline::predicts_horizon(&slo, inputs.now, horizon_secs)
            {
                used = true;
                output.predictions.push(PredictionRow {
                    time: inputs.now,
                    target: slo.slo.clone(),
                    kind: "page".into(),
                    horizon_hours: horizon_secs as f64 / 3_600.0,
                    for_time: inputs.now + horizon_secs,
                    forecast: None,
                    lower: None,
                    upper: None,
                    probability: Some(probability),
                    exhausts_at: None,
                    model: pipeline::CLASSIFIER_MODEL.into(),
                    model_version: version.clone(),
                });
            }
        }
    }
    if used {
        output.notes.push(format!(
            "page probabilities come from the previous classifier, version {version}: this \
             run could not train one"
        ));
    }
    Ok((used || !output.trained_classifier()).then_some(version))
}

/// Saves each model of `output` under its kind's directory.
fn save_models(models: &Path, output: &PipelineOutput) -> Result<Vec<PathBuf>, PredictError> {
    let mut saved = Vec::new();
    for card in &output.cards {
        let dir = models.join(&card.kind);
        let path = match card.kind.as_str() {
            pipeline::CLASSIFIER_MODEL => match &output.classifier {
                Some(classifier) => card::save(&dir, card, classifier)?,
                None => continue,
            },
            kind => {
                let wanted = if kind == "series_forecast" {
                    "series"
                } else {
                    "error_ratio"
                };
                let forecasts: Vec<_> = output
                    .forecasts
                    .iter()
                    .filter(|f| f.kind == wanted)
                    .collect();
                card::save(&dir, card, &forecasts)?
            }
        };
        saved.push(path);
    }
    Ok(saved)
}

/// The `predictions` rows of one run.
pub fn predictions_batch(rows: &[PredictionRow]) -> RecordBatch {
    let ts = || TimestampNanosecondBuilder::new().with_timezone("UTC");
    let (mut time, mut for_time, mut exhausts) = (ts(), ts(), ts());
    let (mut target, mut kind, mut model, mut version) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let mut horizon = Float64Builder::new();
    let (mut forecast, mut lower, mut upper, mut probability) = (
        Float64Builder::new(),
        Float64Builder::new(),
        Float64Builder::new(),
        Float64Builder::new(),
    );
    let nanos = |s: i64| s.saturating_mul(1_000_000_000);
    let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
    for r in rows {
        time.append_value(nanos(r.time));
        target.append_value(&r.target);
        kind.append_value(&r.kind);
        horizon.append_value(r.horizon_hours);
        for_time.append_value(nanos(r.for_time));
        forecast.append_option(finite(r.forecast));
        lower.append_option(finite(r.lower));
        upper.append_option(finite(r.upper));
        probability.append_option(finite(r.probability));
        exhausts.append_option(r.exhausts_at.map(nanos));
        model.append_value(&r.model);
        version.append_value(&r.model_version);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(target.finish()),
        Arc::new(kind.finish()),
        Arc::new(horizon.finish()),
        Arc::new(for_time.finish()),
        Arc::new(forecast.finish()),
        Arc::new(lower.finish()),
        Arc::new(upper.finish()),
        Arc::new(probability.finish()),
        Arc::new(exhausts.finish()),
        Arc::new(model.finish()),
        Arc::new(version.finish()),
    ];
    // Built to the table's schema, column by column in its order.
    RecordBatch::try_new(Table::Predictions.schema(), columns)
        .unwrap_or_else(|_| RecordBatch::new_empty(Table::Predictions.schema()))
}

/// One predictive alert per warning, labelled `type=predictive`, SEV3 (an ops bot looks
/// before it becomes a page).
pub fn warning_signals(warnings: &[PredictiveWarning], slos: &[Slo]) -> Vec<Signal> {
    warnings
        .iter()
        .map(|w| {
            let alertname = if w.kind == "budget_exhaustion" {
                BUDGET_ALERT
            } else {
                PAGE_ALERT
            };
            let mut signal = Signal::new(alertname, Severity::Sev3, true)
                .label("slo", &w.target)
                .label("type", "predictive")
                .annotation("summary", &w.summary)
                .annotation(
                    "description",
                    format!(
                        "Predicted by the {} run of Vigil's prediction job; see the \
                         predictions table for the forecast and its interval.",
                        match w.kind.as_str() {
                            "budget_exhaustion" => "error-budget forecast of the",
                            "rate_limit_precursor" => "rate-limit precursor rule of the",
                            _ => "page classifier of the",
                        }
                    ),
                );
            if let Some(service) = slos
                .iter()
                .find(|s| s.name == w.target)
                .and_then(|s| s.service.as_deref())
            {
                signal = signal.label("service", service);
            }
            signal.values.insert(
                match w.kind.as_str() {
                    "budget_exhaustion" => "hours_to_exhaustion".into(),
                    "rate_limit_precursor" => "rate_limited_hours".into(),
                    _ => "probability".into(),
                },
                w.value,
            );
            if let Some(at) = w.exhausts_at.and_then(|t| chrono::DateTime::from_timestamp(t, 0)) {
                signal = signal.annotation("exhausts_at", at.to_rfc3339());
            }
            signal.generator_url = Some(format!(
                "/api/v1/query?sql=SELECT%20*%20FROM%20predictions%20WHERE%20target%20%3D%20%27{}%27%20ORDER%20BY%20time%20DESC%20LIMIT%2020",
                w.target
            ));
            signal
        })
        .collect()
}

/// What the scheduled job runs over and when.
#[derive(Debug, Clone)]
pub struct ScheduledJob {
    pub slos: Vec<Slo>,
    pub config: PredictConfig,
    /// See [`models_dir`].
    pub models: PathBuf,
    pub schedule: Schedule,
}

/// Runs the job on its schedule until `stop` fires, sending its warnings to `alerts`.
pub async fn serve(
    job: ScheduledJob,
    store: Store,
    query: QueryEngine,
    alerts: Option<SharedEngine>,
    mut stop: watch::Receiver<bool>,
) {
    let ScheduledJob {
        slos,
        config,
        models,
        schedule,
    } = job;
    loop {
        let now = chrono::Utc::now();
        let Some(next) = schedule.next_after(now) else {
            warn!(%schedule, "the prediction schedule never comes due; the job does not run");
            return;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        info!(next = %next.to_rfc3339(), "next prediction run");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let at = next.timestamp();
        let mut quiet = |_: &str, _: usize, _: usize| {};
        let run = run_once(&store, &query, &slos, &config, &models, at, &mut quiet);
        let report = tokio::select! {
            report = run => report,
            _ = stop.wait_for(|s| *s) => return,
        };
        match report {
            Ok(report) => {
                for note in &report.output.notes {
                    info!(note = %note, "prediction note");
                }
                if let Some(alerts) = &alerts {
                    let signals = warning_signals(&report.output.warnings, &slos);
                    if let Err(e) =
                        crate::alert::evaluate_and_record(alerts, &store, SOURCE, signals).await
                    {
                        warn!(error = %e, "predictive alerts not evaluated");
                    }
                }
            }
            Err(e) => warn!(error = %e, "prediction run failed; the previous models stay in use"),
        }
    }
}

/// A terminal summary of one run: per SLO the budget forecast, its exhaustion time and
/// the page probabilities; then the warnings, notes and saved models.
pub fn summary(report: &RunReport) -> String {
    use std::fmt::Write;
    let output = &report.output;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nPrediction run {} over {} slo_status points: {} rows",
        output.model_version,
        report.status_points,
        output.predictions.len()
    );
    let mut targets: BTreeMap<&str, Vec<&PredictionRow>> = BTreeMap::new();
    for row in &output.predictions {
        if row.kind != "series" {
            targets.entry(&row.target).or_default().push(row);
        }
    }
    if !targets.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<30} {:>12} {:>22} {:>8} {:>8} {:>8}",
            "SLO", "budget 48h", "budget runs out", "p(1h)", "p(6h)", "p(48h)"
        );
    }
    fn pick<'a>(rows: &[&'a PredictionRow], kind: &str, hours: f64) -> Option<&'a PredictionRow> {
        rows.iter()
            .find(|r| r.kind == kind && (r.horizon_hours - hours).abs() < 1e-9)
            .copied()
    }
    for (target, rows) in &targets {
        let budget = pick(rows, "budget", 48.0);
        let exhausts = rows
            .iter()
            .filter(|r| r.kind == "budget")
            .find_map(|r| r.exhausts_at.map(|t| (t, r.time)))
            .and_then(|(t, made)| {
                if t <= made {
                    return Some("already spent".to_string());
                }
                chrono::DateTime::from_timestamp(t, 0)
                    .map(|t| t.format("%Y-%m-%d %H:%MZ").to_string())
            })
            .unwrap_or_else(|| {
                if budget.is_some() {
                    "not within 48 h".into()
                } else {
                    "-".into()
                }
            });
        let probability = |h: f64| {
            pick(rows, "page", h)
                .and_then(|r| r.probability)
                .map(|p| format!("{p:.2}"))
                .unwrap_or_else(|| "-".into())
        };
        let _ = writeln!(
            out,
            "{:<30} {:>12} {:>22} {:>8} {:>8} {:>8}",
            target,
            budget
                .and_then(|r| r.forecast)
                .map(|b| format!("{:.1}%", b * 100.0))
                .unwrap_or_else(|| "-".into()),
            exhausts,
            probability(1.0),
            probability(6.0),
            probability(48.0)
        );
    }
    if !output.warnings.is_empty() {
        let _ = writeln!(
            out,
            "\nPredictive warnings (alerts type=predictive in `vigil serve`):"
        );
        for w in &output.warnings {
            let _ = writeln!(out, "  - {}", w.summary);
        }
    }
    if !output.notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for note in &output.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    match &report.classifier_version {
        Some(v) => {
            let _ = writeln!(out, "\nPage classifier in use: version {v}");
        }
        None if output.trained_classifier() => {
            let _ = writeln!(
                out,
                "\nPage classifier {} trained, but no SLO has a page probability now (see \
                 the notes).",
                output.model_version
            );
        }
        None => {
            let _ = writeln!(
                out,
                "\nNo page classifier yet: page probabilities need more history."
            );
        }
    }
    for path in &report.saved {
        let _ = writeln!(out, "saved {}", path.display());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::card::ModelCard;
    use crate::predict::classify::{FEATURE_NAMES, HorizonFit};
    use crate::predict::pipeline::tests::{DAY, H, START, creep_pages, fleet_inputs};
    use crate::predict::pipeline::{PipelineConfig, never_paged_note};

    #[test]
    fn a_precursor_warning_becomes_a_predictive_page_alert_with_its_hours() {
        let warning = PredictiveWarning {
            target: "codex-availability".into(),
            kind: "rate_limit_precursor".into(),
            summary: "codex-availability: rate limiting spread over 6.0 …".into(),
            value: 6.0,
            horizon_hours: 48.0,
            exhausts_at: None,
        };
        let [signal] = warning_signals(&[warning], &[])
            .try_into()
            .expect("one signal");
        assert_eq!(signal.alertname, PAGE_ALERT);
        assert_eq!(signal.labels["type"], "predictive");
        assert_eq!(signal.labels["slo"], "codex-availability");
        assert_eq!(signal.values.get("rate_limited_hours"), Some(&6.0));
        assert!(!signal.values.contains_key("probability"));
        assert!(
            signal.annotations["description"].contains("rate-limit precursor rule"),
            "{:?}",
            signal.annotations
        );
    }

    #[test]
    fn the_summary_tells_a_classifier_without_page_rows_from_none_at_all() {
        let mut report = RunReport {
            output: PipelineOutput::empty("v2"),
            classifier_version: None,
            status_points: 0,
            saved: Vec::new(),
        };
        assert!(summary(&report).contains("No page classifier yet"));
        // Trained (its card is saved), but no SLO had a row to predict from.
        report.output.cards.push(ModelCard::new(
            pipeline::CLASSIFIER_MODEL,
            "v2",
            (START, START + DAY),
            &FEATURE_NAMES,
        ));
        let text = summary(&report);
        assert!(
            text.contains("Page classifier v2 trained, but no SLO has a page probability now"),
            "{text}"
        );
        report.classifier_version = Some("v2".into());
        assert!(summary(&report).contains("Page classifier in use: version v2"));
    }

    #[test]
    fn the_previous_classifier_answers_for_the_slos_and_horizons_the_run_would() {
        // `creep` paged eight times; `quiet` and `burning` never did. Now is 3 h into the
        // precursor of creep's next page, and every SLO's row is predictable.
        let inputs = fleet_inputs(21, &creep_pages(), Some(START + 21 * DAY + 3 * H));
        let trained = pipeline::run(&inputs, &PipelineConfig::default(), &mut |_, _, _| {});
        let classifier = trained.classifier.expect("a classifier from 21 days");
        let models = tempfile::tempdir().unwrap();
        let card = ModelCard::new(
            pipeline::CLASSIFIER_MODEL,
            "earlier",
            (START, inputs.now),
            &FEATURE_NAMES,
        );
        card::save(
            &models.path().join(pipeline::CLASSIFIER_MODEL),
            &card,
            &classifier,
        )
        .unwrap();
        let horizons = classifier
            .predict(build_features(&inputs)[0].rows.last().unwrap())
            .iter()
            .filter(|p| matches!(p, BurnProbability::Probability { .. }))
            .count();
        assert!(horizons > 0);

        // A run that trained nothing; one of the notes is already there, as the pipeline
        // writes it when its own classifier skips an SLO.
        let mut output = PipelineOutput {
            notes: vec![never_paged_note("quiet")],
            ..PipelineOutput::empty("now")
        };
        let used = fall_back_to_previous(models.path(), &inputs, &mut output).unwrap();

        assert_eq!(used.as_deref(), Some("earlier"));
        let pages: Vec<&PredictionRow> = output
            .predictions
            .iter()
            .filter(|r| r.kind == "page")
            .collect();
        // Creep at every horizon; quiet and burning, which never paged, at 48 h alone.
        let answered: Vec<(&str, f64)> = pages
            .iter()
            .map(|r| (r.target.as_str(), r.horizon_hours))
            .collect();
        let mut expected: Vec<(&str, f64)> = classifier
            .horizons
            .iter()
            .filter_map(|h| match h {
                HorizonFit::Ready(m) => Some(("creep", m.horizon_secs as f64 / 3_600.0)),
                HorizonFit::InsufficientHistory(_) => None,
            })
            .collect();
        assert_eq!(expected.len(), horizons);
        assert!(expected.contains(&("creep", 48.0)), "{expected:?}");
        expected.extend([("quiet", 48.0), ("burning", 48.0)]);
        assert_eq!(answered, expected, "{pages:?}");
        for row in pages {
            assert_eq!(row.model_version, "earlier");
            assert!(row.probability.is_some_and(|p| (0.0..=1.0).contains(&p)));
        }
        for slo in ["quiet", "burning"] {
            let note = never_paged_note(slo);
            assert_eq!(
                output.notes.iter().filter(|n| **n == note).count(),
                1,
                "{:?}",
                output.notes
            );
        }
        assert!(
            output
                .notes
                .iter()
                .any(|n| n.contains("come from the previous classifier, version earlier"))
        );

        // Had no SLO a status point now (the history ends 2 h before it), the previous
        // classifier would answer for none, and still be the one in use.
        let mut inputs = fleet_inputs(21, &creep_pages(), None);
        inputs.now += 2 * 3_600;
        let mut output = PipelineOutput {
            notes: Vec::new(),
            predictions: Vec::new(),
            ..output
        };
        let used = fall_back_to_previous(models.path(), &inputs, &mut output).unwrap();
        assert_eq!(used.as_deref(), Some("earlier"));
        assert!(output.predictions.is_empty(), "{:?}", output.predictions);
        assert_eq!(output.notes.len(), 3, "{:?}", output.notes);
        assert!(
            output
                .notes
                .iter()
                .all(|n| n.contains("no status point within 15 min of now"))
        );
        // A run that trained a classifier of its own (saved as the new current one) is not
        // reported as using the previous one that answered nothing.
        output.cards.push(card);
        let used = fall_back_to_previous(models.path(), &inputs, &mut output).unwrap();
        assert_eq!(used, None);
    }
}
