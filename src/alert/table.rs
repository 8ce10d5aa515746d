//! The `alerts` table: one row per [`Transition`].
//!
//! | column | type | holds |
//! | --- | --- | --- |
//! | `time` | timestamp(ns, UTC) | when the transition happened |
//! | `fingerprint` | text | the alert's identity ([`super::model::fingerprint`]) |
//! | `alertname` | text | |
//! | `state` | text | `pending`, `inactive`, `firing`, `escalated`, `acknowledged`, `resolved` |
//! | `severity` | text | `sev1` … `sev4` |
//! | `handler` | text | `human` or `ops-bot` |
//! | `tier` | text | `L1`, `L2`, `L3`: the tier at the time of the row |
//! | `slo`, `service` | text, nullable | the labels of that name |
//! | `labels`, `annotations`, `values` | JSON text | as sent; values are the caller's figures |
//! | `started_at` | timestamp(ns, UTC) | when the alert started firing (pending rows: when the condition became true) |
//! | `acknowledged_at`, `acknowledged_by` | nullable | once someone acknowledged the alert |
//!
//! The lifecycle figures are plain SQL over these rows (times in seconds):
//!
//! ```sql
//! -- MTTA: from firing to acknowledgement, over acknowledged alerts
//! SELECT avg(date_part('epoch', acknowledged_at) - date_part('epoch', started_at)) AS mtta_s
//! FROM alerts WHERE state = 'acknowledged';
//!
//! -- MTTR: from firing to resolution, over resolved alerts
//! SELECT avg(date_part('epoch', time) - date_part('epoch', started_at)) AS mttr_s
//! FROM alerts WHERE state = 'resolved';
//!
//! -- alerts fired per severity
//! SELECT severity, count(*) AS fired FROM alerts WHERE state = 'firing'
//! GROUP BY severity ORDER BY severity;
//!
//! -- share of resolved alerts that bots handled to the end (never reached L3, the human tier)
//! SELECT avg(CASE WHEN tier IN ('L1', 'L2') THEN 1.0 ELSE 0.0 END) AS bot_share
//! FROM alerts WHERE state = 'resolved';
//! ```
//!
//! [`super::Stats`] computes the same figures in Rust; the tests check that both agree.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder, TimestampNanosecondBuilder};
use arrow::error::ArrowError;
use chrono::{DateTime, Utc};

use super::http::SharedEngine;
use super::model::{Signal, Transition};
use crate::store::{Store, StoreError, Table};

/// `transitions` as rows of `alerts`. Fails only on a time outside what nanosecond
/// timestamps hold (years 1677–2262).
/// Why [`evaluate_and_record`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("alert evaluation failed: {0}")]
    Engine(String),
    #[error("cannot encode alert transitions: {0}")]
    Encode(#[from] ArrowError),
    #[error("cannot write alert transitions: {0}")]
    Store(#[from] StoreError),
}

/// Sends every signal of `source` to the engine (on a blocking thread: it fsyncs its
/// outbox) and appends the transitions it made to the `alerts` table.
pub async fn evaluate_and_record(
    engine: &SharedEngine,
    store: &Store,
    source: &'static str,
    signals: Vec<Signal>,
) -> Result<(), RecordError> {
    let engine = engine.clone();
    let transitions = tokio::task::spawn_blocking(move || {
        let mut engine = engine.lock().unwrap_or_else(|e| e.into_inner());
        engine.evaluate(source, signals, Utc::now())
    })
    .await
    .map_err(|e| RecordError::Engine(e.to_string()))?
    .map_err(|e| RecordError::Engine(e.to_string()))?;
    if !transitions.is_empty() {
        store
            .append_derived(Table::Alerts, transitions_to_batch(&transitions)?)
            .await?;
    }
    Ok(())
}

pub fn transitions_to_batch(transitions: &[Transition]) -> Result<RecordBatch, ArrowError> {
    let n = transitions.len();
    let mut time = TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut started_at = TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut acknowledged_at = TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
    let text = || StringBuilder::with_capacity(n, n * 16);
    let (mut fingerprint, mut alertname, mut state, mut severity) =
        (text(), text(), text(), text());
    let (mut handler, mut tier, mut slo, mut service) = (text(), text(), text(), text());
    let (mut labels, mut annotations, mut values, mut acknowledged_by) =
        (text(), text(), text(), text());

    for t in transitions {
        time.append_value(nanos(t.time)?);
        fingerprint.append_value(&t.fingerprint);
        alertname.append_value(&t.alertname);
        state.append_value(t.state.as_str());
        severity.append_value(t.severity.as_str());
        handler.append_value(t.handler.as_str());
        tier.append_value(t.tier.as_str());
        slo.append_option(t.labels.get("slo"));
        service.append_option(t.labels.get("service"));
        labels.append_value(json(&t.labels)?);
        annotations.append_value(json(&t.annotations)?);
        values.append_value(json(&t.values)?);
        started_at.append_value(nanos(t.started_at)?);
        acknowledged_at.append_option(t.acknowledged_at.map(nanos).transpose()?);
        acknowledged_by.append_option(t.acknowledged_by.as_deref());
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(fingerprint.finish()),
        Arc::new(alertname.finish()),
        Arc::new(state.finish()),
        Arc::new(severity.finish()),
        Arc::new(handler.finish()),
        Arc::new(tier.finish()),
        Arc::new(slo.finish()),
        Arc::new(service.finish()),
        Arc::new(labels.finish()),
        Arc::new(annotations.finish()),
        Arc::new(values.finish()),
        Arc::new(started_at.finish()),
        Arc::new(acknowledged_at.finish()),
        Arc::new(acknowledged_by.finish()),
    ];
    RecordBatch::try_new(Table::Alerts.schema(), columns)
}

fn nanos(t: DateTime<Utc>) -> Result<i64, ArrowError> {
    t.timestamp_nanos_opt().ok_or_else(|| {
        ArrowError::InvalidArgumentError(format!(
            "alert time {t} is outside the range of nanosecond timestamps"
        ))
    })
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, ArrowError> {
    serde_json::to_string(value).map_err(|e| ArrowError::ExternalError(Box::new(e)))
}

/// The open alerts (pending, firing, escalated or acknowledged, not yet resolved): the
/// newest row of each fingerprint, newest first. What `vigil alerts` prints.
pub const OPEN_ALERTS_SQL: &str = "\
SELECT fingerprint, alertname, state, severity, handler, tier, slo, service, started_at, \
       acknowledged_by, json_get_str(annotations, 'summary') AS summary \
FROM (SELECT *, row_number() OVER (PARTITION BY fingerprint ORDER BY time DESC) AS newest \
      FROM alerts) AS latest \
WHERE newest = 1 AND state NOT IN ('resolved', 'inactive') \
ORDER BY started_at DESC";

/// Per severity and overall (`all`), over transitions of the last `since_secs` seconds:
/// alerts fired, MTTA and MTTR in seconds, and the share of resolved alerts bots handled
/// to the end (resolved while still at tier L1 or L2). What `vigil alerts stats` prints.
pub fn stats_sql(since_secs: u64) -> String {
    format!(
        "SELECT coalesce(severity, 'all') AS severity, \
                count(*) FILTER (WHERE state = 'firing') AS fired, \
                count(*) FILTER (WHERE state = 'resolved') AS resolved, \
                avg(date_part('epoch', acknowledged_at) - date_part('epoch', started_at)) \
                    FILTER (WHERE state = 'acknowledged') AS mtta_s, \
                avg(date_part('epoch', time) - date_part('epoch', started_at)) \
                    FILTER (WHERE state = 'resolved') AS mttr_s, \
                avg(CASE WHEN tier IN ('L1', 'L2') THEN 1.0 ELSE 0.0 END) \
                    FILTER (WHERE state = 'resolved') AS bot_handled_share \
         FROM alerts \
         WHERE time >= now() - INTERVAL '{since_secs} seconds' \
         GROUP BY ROLLUP (severity) \
         ORDER BY severity IS NULL, severity"
    )
}
