//! The SLO job: writes `slo_status` through the store, so its rows are as durable and
//! queryable as telemetry.
//!
//! - [`run`] is the loop inside `vigil serve`: each interval it rolls up new minutes and
//!   appends one row per objective for every minute boundary not yet written. On start it
//!   fills the gap since the last stored row (at most `history` back), so a restart
//!   neither repeats nor skips minutes.
//! - [`backfill`] recomputes a past range (`vigil slo backfill --since 30d`): it deletes
//!   the stored rows from the range's first hour on and writes them again.
//!
//! A row at time `t` describes the data before `t`: it is what an evaluation at `t`
//! concluded. Rows already written are not rewritten when late telemetry changes a past
//! minute; a backfill does that.
//!
//! With an alert engine, each scheduled evaluation (not the gap fill or a backfill, which
//! describe the past) also sends every firing burn condition to it as a signal and writes
//! the transitions to `alerts`, and ranks the root causes of every SLO that starts burning
//! (`rca::live`): the best three ride in its alerts, the best ten go to `root_causes`.
//! Alerts see the minute in progress: the rollup reaches up to
//! now, so a burst of errors is noticed within one interval, not at the next minute.

use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use super::engine::SloEngine;
use crate::alert::http::SharedEngine;
use crate::metrics::SharedFigures;
use crate::models::watch::{SOURCE as WATCH_SOURCE, Watcher};
use crate::query::{QueryEngine, QueryError};
use crate::store::{Store, StoreError, Table, TruncateError};

const MINUTE: i64 = 60;

/// The alert engine's name for the SLO job's evaluations.
const SOURCE: &str = "slo";

/// Minutes of status computed and written at a time while recomputing a range.
const CHUNK_MINUTES: i64 = 360;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cannot write slo_status: {0}")]
    Store(#[from] StoreError),
    #[error("cannot clear slo_status before recomputing it: {0}")]
    Truncate(#[from] TruncateError),
    #[error("cannot read slo_status: {0}")]
    Query(#[from] QueryError),
    #[error("alert evaluation failed: {0}")]
    Alert(String),
}

fn floor_minute(t: i64) -> i64 {
    t.div_euclid(MINUTE) * MINUTE
}

/// The time (unix seconds) of the newest `slo_status` row, if any.
pub async fn last_status_time(query: &QueryEngine) -> Result<Option<i64>, QueryError> {
    use arrow::array::{Array, AsArray};
    let result = query
        .sql("SELECT CAST(max(time) AS BIGINT) FROM slo_status")
        .await?;
    let newest = result
        .batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .find_map(|b| {
            let column = b
                .column(0)
                .as_primitive_opt::<arrow::datatypes::Int64Type>()?;
            (!column.is_null(0)).then(|| column.value(0))
        });
    Ok(newest.map(|nanos| nanos.div_euclid(1_000_000_000)))
}

/// Writes a status row per objective for every minute boundary in `(from, to]`, rolling
/// up as it goes. `progress` is told each minute boundary reached. Returns the rows
/// written.
pub async fn recompute(
    slos: &mut SloEngine,
    store: &Store,
    from: i64,
    to: i64,
    progress: &mut (dyn FnMut(i64) + Send),
) -> Result<u64, JobError> {
    let (from, to) = (floor_minute(from), floor_minute(to));
    slos.catch_up(from, None).await;
    let mut rows = 0;
    let mut done = from;
    while done < to {
        let chunk_end = (done + CHUNK_MINUTES * MINUTE).min(to);
        slos.catch_up(chunk_end, None).await;
        let at: Vec<i64> = (done / MINUTE + 1..=chunk_end / MINUTE)
            .map(|m| m * MINUTE)
            .collect();
        let batch = slos.status(&at);
        rows += batch.num_rows() as u64;
        store.append_derived(Table::SloStatus, batch).await?;
        done = chunk_end;
        progress(done);
    }
    Ok(rows)
}

/// Deletes `slo_status` from the hour of `since` on and computes it again up to `now`.
/// Returns the first recomputed minute and the rows written. The caller must hold the
/// store alone (no server on the data directory).
pub async fn backfill(
    slos: &mut SloEngine,
    store: &Store,
    since: i64,
    now: i64,
    progress: &mut (dyn FnMut(i64) + Send),
) -> Result<(i64, u64), JobError> {
    let from = since.div_euclid(3600) * 3600;
    store
        .truncate_derived(Table::SloStatus, from.saturating_mul(1_000_000_000))
        .await?;
    // Rows are written for minute boundaries after `from`; the boundary `from` itself
    // belongs to the deleted hour too.
    let rows = recompute(slos, store, from - MINUTE, now, progress).await?;
    store
        .flush()
        .await
        .map_err(|e| JobError::Truncate(TruncateError::Flush(e)))?;
    Ok((from, rows))
}

/// Where [`run`] sends what it concludes besides `slo_status`.
#[derive(Debug)]
pub struct Outputs {
    /// Receives every firing burn condition as a signal.
    pub alerts: Option<SharedEngine>,
    /// The latest figures of every SLO, for `/metrics`.
    pub figures: SharedFigures,
    /// Live anomaly detection on the SLO series and SQL series, after each step.
    pub watcher: Option<Watcher>,
}

/// How often [`run`] evaluates, and how far back it fills a gap on start.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub interval: Duration,
    pub history: Duration,
}

/// Evaluates every SLO each `interval` into `slo_status` until `stop` fires, after
/// filling the gap since the newest stored row (at most `history` back).
pub async fn run(
    mut slos: SloEngine,
    store: Store,
    query: QueryEngine,
    outputs: Outputs,
    schedule: Schedule,
    mut stop: watch::Receiver<bool>,
) {
    let Outputs {
        alerts,
        figures,
        mut watcher,
    } = outputs;
    let Schedule { interval, history } = schedule;
    // The newest minute boundary with rows; None until the gap is filled.
    let mut written: Option<i64> = None;
    let mut explainer = crate::rca::live::LiveExplainer::default();
    loop {
        let now = crate::server::unix_now();
        let end = floor_minute(now);
        let started = std::time::Instant::now();
        let result = match written {
            None => fill_gap(&mut slos, &store, &query, end, history).await,
            Some(last) => {
                step(
                    &mut slos,
                    &store,
                    alerts.as_ref(),
                    &mut explainer,
                    now,
                    last,
                )
                .await
            }
        };
        if written.is_some()
            && let Some(watcher) = watcher.as_mut()
        {
            let signals = watcher.step(&slos, &query, &store, now).await;
            if let Some(alerts) = &alerts
                && let Err(e) = evaluate_alerts(alerts, &store, WATCH_SOURCE, signals).await
            {
                warn!(error = %e, "anomaly alerts not evaluated");
            }
        }
        let latest = slos.figures(floor_minute(now) + MINUTE);
        *figures.write().unwrap_or_else(|e| e.into_inner()) = latest;
        match result {
            Ok(rows) => {
                if written.is_none() {
                    info!(
                        objectives = slos.objectives(),
                        rows,
                        ms = started.elapsed().as_millis() as u64,
                        "SLO rollups computed and slo_status filled in"
                    );
                }
                written = Some(end);
            }
            Err(e) => warn!(error = %e, "SLO evaluation failed; retrying next interval"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|s| *s) => {
                if let Some(watcher) = &watcher {
                    watcher.save();
                }
                return;
            }
        }
    }
}

/// Rows for the minutes since the newest stored row, bounded by `history`.
async fn fill_gap(
    slos: &mut SloEngine,
    store: &Store,
    query: &QueryEngine,
    end: i64,
    history: Duration,
) -> Result<u64, JobError> {
    let oldest = end - history.as_secs() as i64;
    let from = last_status_time(query)
        .await?
        .map_or(oldest, |last| last.max(oldest));
    let rows = recompute(slos, store, from.min(end), end, &mut |_| {}).await?;
    Ok(rows)
}

/// One scheduled evaluation: rolls up what arrived, writes the minutes after `last`, and
/// evaluates the alerts.
async fn step(
    slos: &mut SloEngine,
    store: &Store,
    alerts: Option<&SharedEngine>,
    explainer: &mut crate::rca::live::LiveExplainer,
    now: i64,
    last: i64,
) -> Result<u64, JobError> {
    let end = floor_minute(now);
    slos.catch_up(now, store.take_arrivals()).await;
    let at: Vec<i64> = (last / MINUTE + 1..=end / MINUTE)
        .map(|m| m * MINUTE)
        .collect();
    let batch = slos.status(&at);
    let rows = batch.num_rows() as u64;
    store.append_derived(Table::SloStatus, batch).await?;
    if let Some(alerts) = alerts {
        // The evaluation that includes the minute in progress. A new burn goes out at
        // once; its root causes are ranked after and sent with the same signals again.
        let mut signals = slos.burn_signals(end + MINUTE);
        explainer.attach(&mut signals);
        evaluate_alerts(alerts, store, SOURCE, signals.clone()).await?;
        if explainer.refresh(slos, store, &signals, now).await {
            explainer.attach(&mut signals);
            evaluate_alerts(alerts, store, SOURCE, signals).await?;
        }
    }
    Ok(rows)
}

/// Sends every signal of `source` to the alert engine and writes the transitions to the
/// `alerts` table.
async fn evaluate_alerts(
    alerts: &SharedEngine,
    store: &Store,
    source: &'static str,
    signals: Vec<crate::alert::Signal>,
) -> Result<(), JobError> {
    crate::alert::evaluate_and_record(alerts, store, source, signals)
        .await
        .map_err(|e| JobError::Alert(e.to_string()))
}
